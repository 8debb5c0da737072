// Package domain is the relationships area's pure domain model: salespeople
// (sales reps and their managers) and, per customer, the account: its
// account team, its interests and the products it owns. It touches no
// database, clock or random source: the service layer loads the aggregates a
// decision needs from the area's event log, passes facts it knows from its
// replica of the customer area (a [CustomerFact]), the current time and any
// new id, and appends the returned events.
//
// # Streams in the relationships area's log
//
//   - "sp_<uuid>" (the salesperson id): one stream per salesperson, folded
//     into [Salesperson]. Events: [SalespersonRegistered].
//   - contract.EmailClaimStreamID(email) = "email-" + hex(SHA-256(lower-cased email)):
//     one guard stream per salesperson email address, folded into
//     [EmailClaim]. Events: [SalespersonEmailClaimed]. It keeps emails
//     unique under concurrent registrations: both read the claim at the same
//     version and only one append can pass that expected version. A hash,
//     not the address, so stream ids (logged, sent through Redis) carry no
//     personal data and have a fixed length.
//   - "cus_<uuid>" (the customer id): one account stream per customer,
//     folded into [Account]. Events: [AccountTeamAssigned],
//     [InterestRecorded], [InterestRemoved], [ProductAdded]. The customer
//     itself lives in the customer area; this stream only holds what the
//     relationships area adds to it.
//
// # What each decision appends where
//
//   - [Salesperson.Register]: SalespersonRegistered to the new
//     salesperson's stream (expected version 0) and SalespersonEmailClaimed
//     to the email's claim stream (expected: the claim's Version). The
//     manager it names is only read: a salesperson's role never changes, so
//     no guard on the manager's stream is needed.
//   - [Account.AssignTeam]: AccountTeamAssigned to the account stream. The
//     sales rep and manager are only read (roles never change).
//   - [Account.RecordInterest], [Account.RemoveInterest]: InterestRecorded /
//     InterestRemoved to the account stream.
//   - [Account.AddOwnedProduct] (the reaction to a deal won in the
//     campaigns area): ProductAdded to the account stream, once per deal.
//
// Every event knows its stream ([Event.StreamID]). The service groups the
// events of one decision by stream and appends them in one atomic
// multi-stream append, each stream at the Version of the aggregate the
// decision was made on; on a lost race it reloads and decides again.
//
// Refusals are *errcode.Error values (BAD_USER_INPUT naming the GraphQL input
// field, NOT_FOUND, CONFLICT) and come with no events. A decision that would
// change nothing returns no events and no error. An error without a code
// means the service passed inconsistent aggregates (a bug), never bad input.
package domain
