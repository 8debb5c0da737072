// Package domain is the customer area's pure domain model: its events, its
// aggregates and the decisions that turn a command into events. It touches no
// database, clock or random source: the service layer loads the aggregates a
// decision needs from the area's event log, passes the current time and any
// new id in, and appends the returned events.
//
// # Streams in the customer area's log
//
//   - "cus_<uuid>" (the customer id): one stream per customer, folded into
//     [Customer]. Events: [CustomerRegistered], [CustomerUpdated],
//     [CustomerArchived].
//   - contract.EmailClaimStreamID(email) = "email-" + hex(SHA-256(lower-cased email)):
//     one guard stream per email address ever used, folded into [EmailClaim].
//     Events: [CustomerEmailClaimed], [CustomerEmailReleased]. It makes the
//     email unique among active customers even under concurrent commands:
//     two registrations of one email both read the claim at the same version,
//     and only one of their appends can pass that expected version. The id is
//     a hash, not the address, so no personal data ends up in stream ids (they
//     are logged and travel in Redis entries) and the id has a fixed length.
//
// # What each decision appends where
//
//   - [Customer.Register]: CustomerRegistered to the new customer's stream
//     (expected version 0) and CustomerEmailClaimed to the email's claim
//     stream (expected: the claim's Version).
//   - [Customer.Update]: CustomerUpdated to the customer's stream; when the
//     email changes also CustomerEmailClaimed to the new email's claim stream
//     and CustomerEmailReleased to the old email's claim stream.
//   - [Customer.Archive]: CustomerArchived to the customer's stream and
//     CustomerEmailReleased to the claim stream of the customer's email, so
//     the address can be used again by a new customer.
//
// Every event knows its stream ([Event.StreamID]). The service groups the
// events of one decision by stream and appends them in one atomic
// multi-stream append, each stream at the Version of the aggregate the
// decision was made on. A lost race is a version conflict: the service
// reloads and decides again (then the decision itself answers, e.g. CONFLICT
// because the email was taken meanwhile).
//
// Refusals are *errcode.Error values (BAD_USER_INPUT naming the GraphQL input
// field, NOT_FOUND, CONFLICT) and come with no events. A decision that would
// change nothing returns no events and no error. An error without a code
// means the service passed inconsistent aggregates (a bug), never bad input.
package domain
