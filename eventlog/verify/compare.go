package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Diff is one row that differs between the live table and the replay.
type Diff struct {
	Table string
	// Key is the row's key, "col=value,col=value".
	Key string
	// Live and Rebuilt are the differing columns of each side as a JSON
	// object, or the whole row when the other side lacks it; nil when this
	// side lacks the row.
	Live, Rebuilt json.RawMessage
}

// String is "table key: live=... rebuilt=...", "table key: missing from
// live, rebuilt=..." or "table key: extra in live, live=...".
func (d Diff) String() string {
	switch {
	case d.Live == nil:
		return fmt.Sprintf("%s %s: missing from live, rebuilt=%s", d.Table, d.Key, d.Rebuilt)
	case d.Rebuilt == nil:
		return fmt.Sprintf("%s %s: extra in live, live=%s", d.Table, d.Key, d.Live)
	default:
		return fmt.Sprintf("%s %s: live=%s rebuilt=%s", d.Table, d.Key, d.Live, d.Rebuilt)
	}
}

// TableResult is the comparison of one table.
type TableResult struct {
	Table                 string
	LiveRows, RebuiltRows int64
	// Differing counts every differing row; Diffs lists the first MaxRows
	// in key order.
	Differing int64
	Diffs     []Diff
}

// compareTable compares one table of the live schema with the scratch one
// by key, on every column but the spec's exclusions, in SQL.
func (v *verifier) compareTable(ctx context.Context, tx pgx.Tx, t TableSpec) (TableResult, error) {
	tr := TableResult{Table: t.Name}
	where := "true"
	if t.Where != "" {
		where = t.Where
	}
	var keyObj, keyText []string
	for _, k := range t.Key {
		keyObj = append(keyObj, fmt.Sprintf("'%s', x.%s", k, k))
		keyText = append(keyText, fmt.Sprintf("'%s=' || coalesce(x.%s::text, 'NULL')", k, k))
	}
	cond := "false"
	if len(t.Clocked) > 0 {
		cond = "(" + strings.NewReplacer("{live}", v.cfg.Schema, "{scratch}", v.cfg.Scratch).Replace(t.ClockedWhen) + ")"
	}
	masked := `to_jsonb(x) - $1::text[] - CASE WHEN ` + cond + ` THEN $2::text[] ELSE '{}'::text[] END`
	side := func(schema string) string {
		return `SELECT jsonb_build_object(` + strings.Join(keyObj, ", ") + `) AS k, ` +
			strings.Join(keyText, ` || ',' || `) + ` AS kt, ` + masked + ` AS j FROM ` +
			schema + `.` + t.Name + ` x WHERE ` + where
	}
	ignore, clocked := nonNil(t.Ignore), nonNil(t.Clocked)
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+v.cfg.Schema+`.`+t.Name+` x WHERE `+where+`),
		(SELECT count(*) FROM `+v.cfg.Scratch+`.`+t.Name+` x WHERE `+where+`)`).Scan(&tr.LiveRows, &tr.RebuiltRows); err != nil {
		return tr, err
	}
	rows, err := tx.Query(ctx, `WITH l AS (`+side(v.cfg.Schema)+`), r AS (`+side(v.cfg.Scratch)+`)
		SELECT coalesce(l.kt, r.kt), l.j::text, r.j::text, count(*) OVER ()
		FROM l FULL JOIN r ON l.k = r.k
		WHERE l.j IS DISTINCT FROM r.j
		ORDER BY coalesce(l.k, r.k) LIMIT $3`, ignore, clocked, v.cfg.MaxRows)
	if err != nil {
		return tr, err
	}
	var key string
	var lj, rj *string
	if _, err := pgx.ForEachRow(rows, []any{&key, &lj, &rj, &tr.Differing}, func() error {
		d, err := diffRow(t.Name, key, lj, rj)
		if err != nil {
			return err
		}
		tr.Diffs = append(tr.Diffs, d)
		return nil
	}); err != nil {
		return tr, err
	}
	return tr, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// diffRow keeps, of two differing rows, the columns that differ (both
// whole rows when none does by text, e.g. 1.50 and 1.5).
func diffRow(table, key string, live, rebuilt *string) (Diff, error) {
	d := Diff{Table: table, Key: key}
	compact := func(s string) json.RawMessage {
		var b bytes.Buffer
		if json.Compact(&b, []byte(s)) != nil {
			return json.RawMessage(s)
		}
		return b.Bytes()
	}
	if live == nil || rebuilt == nil {
		if live != nil {
			d.Live = compact(*live)
		}
		if rebuilt != nil {
			d.Rebuilt = compact(*rebuilt)
		}
		return d, nil
	}
	var l, r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*live), &l); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(*rebuilt), &r); err != nil {
		return d, err
	}
	dl, dr := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, lv := range l {
		if rv, ok := r[k]; !ok || string(rv) != string(lv) {
			dl[k] = lv
			if ok {
				dr[k] = rv
			}
		}
	}
	for k, rv := range r {
		if _, ok := l[k]; !ok {
			dr[k] = rv
		}
	}
	if len(dl) == 0 && len(dr) == 0 {
		d.Live, d.Rebuilt = compact(*live), compact(*rebuilt)
		return d, nil
	}
	var err error
	if d.Live, err = json.Marshal(dl); err != nil { // map keys come out sorted
		return d, err
	}
	d.Rebuilt, err = json.Marshal(dr)
	return d, err
}
