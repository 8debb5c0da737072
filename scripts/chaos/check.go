package chaos

import "crm/scripts/cluster"

// readSearches find the markers in the read models (cluster.MarkerSearches):
// a bad registerCustomer is searched for by name, since its email is not
// one.
var readSearches = cluster.MarkerSearches(map[string]string{
	"customer-name": `SELECT name, count(*) FROM read.customers WHERE name LIKE $1 GROUP BY 1`,
})
