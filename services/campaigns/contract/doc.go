// Package contract is the campaigns area's published event contract: the type
// names and JSON payloads of the events in its log, and the ids of the
// streams they are recorded in, as other areas' replicas and reactions and
// the read side's projector decode them. Plain structs and constants: no
// validation and no decisions (those are services/campaigns/domain's, which
// decides in these types), and only the standard library is imported.
// Changing a payload changes the log's format: add optional fields, never
// rename or remove one.
package contract
