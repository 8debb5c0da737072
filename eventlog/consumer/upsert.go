package consumer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Table describes a table written by set-based upserts (Batch.Upsert).
type Table struct {
	// Name is the schema-qualified table name.
	Name string
	// Key is its primary key column (text): every row names one.
	Key string
	// InsertOnly are columns set when the row is inserted and never
	// updated (an owner that never changes).
	InsertOnly []string
	// Casts gives the SQL type of columns whose Go value does not carry it
	// (a decimal string for a numeric column), keyed by column.
	Casts map[string]string
	// Returning is the RETURNING list of its statements ("" for none); the
	// rows go to the onRow of the batch's last Upsert of the table.
	Returning string
}

// upsertOp is one Upsert or Refresh call, folded when the batch is sent.
type upsertOp struct {
	table   Table // of an Upsert
	sql     string
	key     string
	cols    []any // column name, value, column name, value...
	onRow   func(pgx.Row) error
	ev      int
	refresh bool
}

// Upsert folds one row into the batch's upsert of table t: the key and
// each named column's new value, given as name, value pairs (values of one
// column have one Go type: string, *string, bool, int64, time.Time or a
// pointer to one, or []string, stored into a text[] column). Rows of one
// key fold into one, column by column, the later value winning: the result
// is that of running the upserts one by one in the order given, as long as
// each only sets columns to values (nothing read from the row). When the
// batch is sent, the folded rows of the table become one INSERT ... SELECT
// FROM unnest(...) ON CONFLICT DO UPDATE per set of columns, after every
// statement queued by Exec or Query and before Refresh statements; onRow
// (may be nil) receives the rows they return.
func (b *Batch) Upsert(t Table, onRow func(pgx.Row) error, key string, cols ...any) {
	if len(cols)%2 != 0 {
		panic("consumer: Upsert takes column name, value pairs")
	}
	b.ups = append(b.ups, upsertOp{table: t, key: key, cols: cols, onRow: onRow, ev: b.ev})
}

// Refresh queues key for a statement that recomputes rows from others
// (an aggregate, a copied name): sql takes every key queued for it in the
// batch, once each, as its only parameter $1 (text[]). It runs once per
// batch, after the batch's upserts, in first-use order; onRow (may be nil)
// receives the rows it returns (the batch keeps the last onRow given).
func (b *Batch) Refresh(sql, key string, onRow func(pgx.Row) error) {
	b.ups = append(b.ups, upsertOp{sql: sql, key: key, onRow: onRow, ev: b.ev, refresh: true})
}

// foldedRow is the fold of the upserts of one key.
type foldedRow struct {
	key  string
	cols map[string]any
	ev   int // the event of every upsert folded in, -1 when several
}

// tableFold is the folded upserts of one table.
type tableFold struct {
	table Table
	rows  map[string]*foldedRow
	order []string // keys in first-use order
	onRow func(pgx.Row) error
}

// refreshFold is the keys of one Refresh statement.
type refreshFold struct {
	keys  []string
	seen  map[string]bool
	ev    int
	onRow func(pgx.Row) error
}

// fold turns the batch's Upsert and Refresh calls into statements: per
// table, one upsert per distinct set of columns; then one per Refresh sql.
func (b *Batch) fold() ([]stmt, error) {
	if len(b.ups) == 0 {
		return nil, nil
	}
	tables := map[string]*tableFold{}
	var tableOrder []string
	refreshes := map[string]*refreshFold{}
	var refreshOrder []string
	for _, op := range b.ups {
		if op.refresh {
			r := refreshes[op.sql]
			if r == nil {
				r = &refreshFold{seen: map[string]bool{}, ev: op.ev}
				refreshes[op.sql] = r
				refreshOrder = append(refreshOrder, op.sql)
			}
			if !r.seen[op.key] {
				r.seen[op.key] = true
				r.keys = append(r.keys, op.key)
			}
			if r.ev != op.ev {
				r.ev = -1
			}
			if op.onRow != nil {
				r.onRow = op.onRow
			}
			continue
		}
		tf := tables[op.table.Name]
		if tf == nil {
			tf = &tableFold{table: op.table, rows: map[string]*foldedRow{}}
			tables[op.table.Name] = tf
			tableOrder = append(tableOrder, op.table.Name)
		}
		if op.onRow != nil {
			tf.onRow = op.onRow
		}
		row := tf.rows[op.key]
		existed := row != nil
		if row == nil {
			row = &foldedRow{key: op.key, cols: map[string]any{}, ev: op.ev}
			tf.rows[op.key] = row
			tf.order = append(tf.order, op.key)
		} else if row.ev != op.ev {
			row.ev = -1
		}
		for i := 0; i < len(op.cols); i += 2 {
			name, ok := op.cols[i].(string)
			if !ok {
				return nil, fmt.Errorf("consumer: Upsert into %s: column name %v is not a string", op.table.Name, op.cols[i])
			}
			if existed && slices.Contains(op.table.InsertOnly, name) {
				continue // the row exists by now: an insert-only column keeps its value
			}
			row.cols[name] = op.cols[i+1]
		}
	}
	var out []stmt
	for _, name := range tableOrder {
		st, err := tables[name].statements()
		if err != nil {
			return nil, err
		}
		out = append(out, st...)
	}
	for _, sql := range refreshOrder {
		r := refreshes[sql]
		out = append(out, stmt{sql: sql, args: []any{r.keys}, rows: eachRow(r.onRow), ev: r.ev})
	}
	return out, nil
}

// statements groups the folded rows by their set of columns: one upsert
// statement each, its rows passed as one array per column.
func (tf *tableFold) statements() ([]stmt, error) {
	type group struct {
		cols []string
		vals [][]any
		ev   int
	}
	groups := map[string]*group{}
	var order []string
	for _, key := range tf.order {
		row := tf.rows[key]
		cols := make([]string, 0, len(row.cols))
		for c := range row.cols {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		sig := strings.Join(cols, ",")
		g := groups[sig]
		if g == nil {
			g = &group{cols: cols, vals: make([][]any, len(cols)+1), ev: row.ev}
			groups[sig] = g
			order = append(order, sig)
		} else if g.ev != row.ev {
			g.ev = -1
		}
		g.vals[0] = append(g.vals[0], key)
		for i, c := range cols {
			g.vals[i+1] = append(g.vals[i+1], row.cols[c])
		}
	}
	out := make([]stmt, 0, len(order))
	for _, sig := range order {
		g := groups[sig]
		sql, args, err := tf.upsertSQL(g.cols, g.vals)
		if err != nil {
			return nil, err
		}
		out = append(out, stmt{sql: sql, args: args, rows: eachRow(tf.onRow), ev: g.ev})
	}
	return out, nil
}

// upsertSQL builds one set-based upsert of the key and cols, with vals[0]
// the keys and vals[i] column cols[i-1]'s values.
func (tf *tableFold) upsertSQL(cols []string, vals [][]any) (string, []any, error) {
	t := tf.table
	names := append([]string{t.Key}, cols...)
	params := make([]string, len(names))
	selects := make([]string, len(names))
	aliases := make([]string, len(names))
	args := make([]any, len(names))
	for i, name := range names {
		alias := "c" + strconv.Itoa(i)
		aliases[i] = alias
		arr, pgType, err := columnArray(vals[i])
		if err != nil {
			return "", nil, fmt.Errorf("consumer: Upsert into %s, column %s: %w", t.Name, name, err)
		}
		args[i] = arr
		params[i] = "$" + strconv.Itoa(i+1) + "::" + pgType + "[]"
		switch {
		case pgType == "jsonb": // a []string column
			selects[i] = "ARRAY(SELECT jsonb_array_elements_text(u." + alias + "))"
		case t.Casts[name] != "":
			selects[i] = "u." + alias + "::" + t.Casts[name]
		default:
			selects[i] = "u." + alias
		}
	}
	var sets []string
	for _, c := range cols {
		if !slices.Contains(t.InsertOnly, c) {
			sets = append(sets, c+" = EXCLUDED."+c)
		}
	}
	if len(sets) == 0 {
		sets = []string{t.Key + " = EXCLUDED." + t.Key} // a no-op that still returns the row
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "INSERT INTO %s (%s) SELECT %s FROM unnest(%s) AS u(%s) ON CONFLICT (%s) DO UPDATE SET %s",
		t.Name, strings.Join(names, ", "), strings.Join(selects, ", "), strings.Join(params, ", "),
		strings.Join(aliases, ", "), t.Key, strings.Join(sets, ", "))
	if t.Returning != "" {
		sb.WriteString(" RETURNING " + t.Returning)
	}
	return sb.String(), args, nil
}

// columnArray turns one column's values into the array pgx sends and its
// SQL element type. A []string value (for a text[] column) travels as
// jsonb, since unnest would flatten a two-dimensional array.
func columnArray(col []any) (any, string, error) {
	switch col[0].(type) {
	case []string:
		out := make([]string, len(col))
		for i, v := range col {
			s, ok := v.([]string)
			if !ok {
				return nil, "", fmt.Errorf("mixed Go types %T and %T", col[0], v)
			}
			if s == nil {
				s = []string{}
			}
			j, err := json.Marshal(s)
			if err != nil {
				return nil, "", err
			}
			out[i] = string(j)
		}
		return out, "jsonb", nil
	}
	var pgType string
	switch col[0].(type) {
	case string, *string:
		pgType = "text"
	case int64, *int64, int, int32:
		pgType = "bigint"
	case bool, *bool:
		pgType = "boolean"
	case time.Time, *time.Time:
		pgType = "timestamptz"
	case float64, *float64:
		pgType = "float8"
	default:
		return nil, "", fmt.Errorf("unsupported Go type %T", col[0])
	}
	t0 := reflect.TypeOf(col[0])
	for _, v := range col[1:] {
		if reflect.TypeOf(v) != t0 {
			return nil, "", fmt.Errorf("mixed Go types %s and %T", t0, v)
		}
	}
	return typedSlice(col), pgType, nil
}

// eachRow adapts a per-row callback to a statement's rows (nil: none).
func eachRow(onRow func(pgx.Row) error) func(pgx.Rows) error {
	if onRow == nil {
		return nil
	}
	return func(rows pgx.Rows) error {
		for rows.Next() {
			if err := onRow(rows); err != nil {
				return err
			}
		}
		return nil
	}
}
