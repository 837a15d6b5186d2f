package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The Badger key space. Ids never contain '/' (see checkID), so a prefix
// ending in '/' matches one object and never another id that merely starts
// with the same characters. Times and numbers are fixed-width hex, so keys
// sort in time and number order.
//
// Under one company, removed together by DeleteCompany:
//
//	c/<company>/info                   companyRecord
//	c/<company>/conn/<conn>            Connection
//	c/<company>/code/<conn>/<hash>     back-reference to the connection's link code
//	c/<company>/ds/<dataset>           Dataset
//	c/<company>/dr/<requested>/<ds>    datasets by requested time
//	c/<company>/st/<type>/latest       statusPointer: newest dataset of the type
//	c/<company>/st/<type>/complete     statusPointer: newest Complete one
//	c/<company>/val/<dataset>          ValidationResult
//
// Bulk data of one company, also removed by DeleteCompany, outside c/ so
// that it is deleted in batches apart from the company's transactions:
//
//	pg/<company>/<ds>/<lease>/<n>      staged upload page n (8 digits): pageValue
//	pd/<company>/<ds>                  an ended dataset whose pages are to be deleted
//	sn/<company>/<type>/<ds>           snapshot ds may have records (under rb/)
//	rc/<company>/<type>/<ds>           snapshot ds is written whole (WriteSnapshot)
//	cur/<company>/<type>               id of the current snapshot of the type
//	rb/<snapshot>/c<last id>           a chunk of a snapshot's records (badger_chunks.go)
//	rb/<snapshot>/r<run><last id>      a chunk of a sorted run (run: 4 bytes), while it is written
//
// Pages are keyed by lease, so an earlier attempt's pages are out of sight
// the moment a new claim commits, however long their deletion takes.
// A snapshot's records are under a short prefix, not under the company's:
// <snapshot> is 12 bytes of SHA-256 of <company>/<type>/<ds> in hex
// (snapshotPrefix): 28 bytes of prefix where there were about 90. The sn/
// entry is written before the first chunk and deleted after the last: it
// is how a company's snapshots are found (dropOrphanSnapshots,
// DeleteCompany). Stores written before kept one key a record, under
// rc/<company>/<type>/<ds>/<id>, then rs/<snapshot>/<id in hex>; they are
// moved once at open (badger_snapmove.go).
//
// Global indexes, each kept by the write that changes what it indexes:
//
//	co/<created>/<company>             companies in creation order
//	ci/<conn>                          company id of a connection
//	di/<dataset>                       company id of a dataset
//	a/<conn>/<type>                    id of the type's non-terminal dataset
//	q/<conn>/<order>/<requested>/<ds>  company id: Queued datasets, dispatch order
//	lx/<expires>/<ds>                  company id: in-flight datasets by lease expiry
//	la/<agent>/<ds>                    company id: live leases by agent
//	up/<ds>                            company id: datasets Validating or Processing
//	lc/<hash>                          LinkCode
//	k/<id>                             APIKey
//	kh/<hash>                          id of the key with that hash
//	ko/<created>/<id>                  keys in creation order
//	ag/<agent>                         Agent
//	agh/<hash>                         id of the agent with that credential hash
//	ago/<created>/<agent>              agents in creation order
//	ac/<agent>/<conn>                  company id: connections bound to the agent
//	sec/<name>                         a secret of the coordinator (Store.Secret)
//	mg/...                             markers of one-time migrations (badger_scrub.go)
//
// timeHex is t as 16 hex digits of Unix nanoseconds, clamped to the range
// UnixNano can hold, so that the zero time sorts first.
func timeHex(t time.Time) string {
	var n uint64
	switch {
	case t.Before(time.Unix(0, 0)):
		n = 0
	case t.After(time.Unix(0, 1<<63-1)):
		n = 1<<63 - 1
	default:
		n = uint64(t.UnixNano())
	}
	return fmt.Sprintf("%016x", n)
}

// intHex is n as 16 hex digits that sort in signed order.
func intHex(n int) string {
	return fmt.Sprintf("%016x", uint64(int64(n))^(1<<63))
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, "/")) }

// prefix is the parts joined and followed by '/'.
func prefix(parts ...string) []byte { return []byte(strings.Join(parts, "/") + "/") }

func companyPrefix(co string) []byte         { return prefix("c", co) }
func companyKey(co string) []byte            { return key("c", co, "info") }
func companyOrderKey(c store.Company) []byte { return key("co", timeHex(c.Created), c.ID) }
func connKey(co, conn string) []byte         { return key("c", co, "conn", conn) }
func connIndexKey(conn string) []byte        { return key("ci", conn) }
func datasetKey(co, ds string) []byte        { return key("c", co, "ds", ds) }
func datasetIndexKey(ds string) []byte       { return key("di", ds) }
func validationKey(co, ds string) []byte     { return key("c", co, "val", ds) }
func linkCodeKey(hash []byte) []byte         { return key("lc", hex.EncodeToString(hash)) }
func apiKeyKey(id string) []byte             { return key("k", id) }
func apiKeyHashKey(hash []byte) []byte       { return key("kh", hex.EncodeToString(hash)) }
func apiKeyOrderKey(k store.APIKey) []byte   { return key("ko", timeHex(k.Created), k.ID) }
func leaseAgentPrefix(agent string) []byte   { return prefix("la", agent) }
func queuedPrefix(conn string) []byte        { return prefix("q", conn) }

func agentKey(id string) []byte                { return key("ag", id) }
func agentHashKey(hash []byte) []byte          { return key("agh", hex.EncodeToString(hash)) }
func agentOrderKey(a store.Agent) []byte       { return key("ago", timeHex(a.Created), a.ID) }
func agentConnKey(agent, conn string) []byte   { return key("ac", agent, conn) }
func endedPagesKey(co, ds string) []byte       { return key("pd", co, ds) }
func cachePointerKey(co, t string) []byte      { return key("cur", co, t) }
func snapshotEntryKey(co, t, ds string) []byte { return key("sn", co, t, ds) }
func datasetPagesPrefix(co, ds string) []byte  { return prefix("pg", co, ds) }
func leasePagesPrefix(co, ds, l string) []byte { return prefix("pg", co, ds, l) }
func pageKey(co, ds, lease string, n int) []byte {
	return key("pg", co, ds, lease, fmt.Sprintf("%08d", n))
}

// snapshotPrefix is the prefix of the chunks of snapshot ds of the type.
// 96 bits of a hash of ids the store chose keep two snapshots apart
// (their collision is a chance of 1 in 2^96 a pair).
func snapshotPrefix(co, t, ds string) []byte { return prefix("rb", snapshotHash(co, t, ds)) }

// oneKeyPrefix is where a store written before chunks kept snapshot ds's
// records, one key each: <prefix><id in hex>.
func oneKeyPrefix(co, t, ds string) []byte { return prefix("rs", snapshotHash(co, t, ds)) }

func snapshotHash(co, t, ds string) string {
	h := sha256.Sum256([]byte(co + "/" + t + "/" + ds))
	return hex.EncodeToString(h[:12])
}

// snapshotWrittenKey marks a snapshot WriteSnapshot wrote whole; deleted
// with the company's bulk data (rc/<company>/).
func snapshotWrittenKey(co, t, ds string) []byte { return key("rc", co, t, ds) }

// companyDataPrefixes are the prefixes of a company's bulk data, deleted
// after its snapshots' records (which sn/<company>/ lists).
func companyDataPrefixes(co string) [][]byte {
	return [][]byte{prefix("pg", co), prefix("pd", co), prefix("rc", co), prefix("cur", co), prefix("sn", co)}
}

func linkCodeRefKey(co, conn string, hash []byte) []byte {
	return key("c", co, "code", conn, hex.EncodeToString(hash))
}

func activeKey(conn string, t dataset.DataType) []byte { return key("a", conn, string(t)) }

func statusKey(co string, t dataset.DataType, which string) []byte {
	return key("c", co, "st", string(t), which)
}

// datasetIndexes are the index entries that dataset d has in its current
// state, key to value. putDataset writes the difference between a dataset's
// entries before and after a change, so no index can drift from the data.
func datasetIndexes(d *store.Dataset) map[string][]byte {
	co := []byte(d.CompanyID)
	ix := map[string][]byte{
		string(datasetIndexKey(d.ID)):                                   co,
		string(key("c", d.CompanyID, "dr", timeHex(d.Requested), d.ID)): nil,
	}
	if d.Status == dataset.Queued {
		k := key("q", d.ConnectionID, intHex(d.SyncOrder), timeHex(d.Requested), d.ID)
		ix[string(k)] = co
	}
	if !d.Status.Terminal() {
		ix[string(activeKey(d.ConnectionID, d.DataType))] = []byte(d.ID)
	}
	if d.Status == dataset.Validating || d.Status == dataset.Processing {
		ix[string(key("up", d.ID))] = co
	}
	if rules.InFlight(d.Status) {
		ix[string(key("lx", timeHex(d.LeaseExpires), d.ID))] = co
		if d.LeaseID != "" {
			ix[string(key("la", d.LeaseAgent, d.ID))] = co
		}
	}
	return ix
}

// lastSegment is what follows the last '/' of k.
func lastSegment(k []byte) string {
	s := string(k)
	return s[strings.LastIndexByte(s, '/')+1:]
}

// endedPagesPrefix is the prefix of every ended-pages mark (endedPagesKey).
var endedPagesPrefix = prefix("pd")
