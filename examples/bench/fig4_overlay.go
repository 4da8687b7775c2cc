package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// The TPC-C-like schema, scaled: Warehouses warehouses of 10 districts,
// CustPerDistrict customers per district, Items items with one stock row
// per warehouse. No initial orders.
const tpccSchema = `
CREATE TABLE warehouse(w_id INTEGER PRIMARY KEY, w_name TEXT, w_tax REAL, w_ytd REAL);
CREATE TABLE district(d_w_id INTEGER, d_id INTEGER, d_name TEXT, d_tax REAL, d_ytd REAL, d_next_o_id INTEGER, PRIMARY KEY(d_w_id, d_id));
CREATE TABLE customer(c_w_id INTEGER, c_d_id INTEGER, c_id INTEGER, c_last TEXT, c_credit TEXT, c_discount REAL, c_balance REAL, c_ytd_payment REAL, c_payment_cnt INTEGER, c_data TEXT, PRIMARY KEY(c_w_id, c_d_id, c_id));
CREATE TABLE item(i_id INTEGER PRIMARY KEY, i_name TEXT, i_price REAL, i_data TEXT);
CREATE TABLE stock(s_w_id INTEGER, s_i_id INTEGER, s_quantity INTEGER, s_ytd INTEGER, s_order_cnt INTEGER, s_dist_info TEXT, s_data TEXT, PRIMARY KEY(s_w_id, s_i_id));
CREATE TABLE orders(o_w_id INTEGER, o_d_id INTEGER, o_id INTEGER, o_c_id INTEGER, o_entry_d INTEGER, o_ol_cnt INTEGER, PRIMARY KEY(o_w_id, o_d_id, o_id));
CREATE TABLE new_order(no_w_id INTEGER, no_d_id INTEGER, no_o_id INTEGER, PRIMARY KEY(no_w_id, no_d_id, no_o_id));
CREATE TABLE order_line(ol_w_id INTEGER, ol_d_id INTEGER, ol_o_id INTEGER, ol_number INTEGER, ol_i_id INTEGER, ol_supply_w_id INTEGER, ol_quantity INTEGER, ol_amount REAL, ol_dist_info TEXT, PRIMARY KEY(ol_w_id, ol_d_id, ol_o_id, ol_number));
CREATE TABLE history(h_c_id INTEGER, h_c_d_id INTEGER, h_c_w_id INTEGER, h_d_id INTEGER, h_w_id INTEGER, h_date INTEGER, h_amount REAL, h_data TEXT);
`

// tpccDB is one SQLite connection with the transactions' statements
// prepared.
//
// Concurrency: not safe for concurrent use.
type tpccDB struct {
	conn  *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

var tpccStmts = map[string]string{
	"begin":      "BEGIN",
	"commit":     "COMMIT",
	"distNext":   "SELECT d_next_o_id FROM district WHERE d_w_id = ? AND d_id = ?",
	"distBump":   "UPDATE district SET d_next_o_id = d_next_o_id + 1 WHERE d_w_id = ? AND d_id = ?",
	"insOrder":   "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
	"insNew":     "INSERT INTO new_order VALUES (?, ?, ?)",
	"itemPrice":  "SELECT i_price FROM item WHERE i_id = ?",
	"stockQty":   "SELECT s_quantity FROM stock WHERE s_w_id = ? AND s_i_id = ?",
	"stockUpd":   "UPDATE stock SET s_quantity = ?, s_ytd = s_ytd + ?, s_order_cnt = s_order_cnt + 1 WHERE s_w_id = ? AND s_i_id = ?",
	"insLine":    "INSERT INTO order_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	"whYTD":      "UPDATE warehouse SET w_ytd = w_ytd + ? WHERE w_id = ?",
	"distYTD":    "UPDATE district SET d_ytd = d_ytd + ? WHERE d_w_id = ? AND d_id = ?",
	"custPay":    "UPDATE customer SET c_balance = c_balance - ?, c_ytd_payment = c_ytd_payment + ?, c_payment_cnt = c_payment_cnt + 1 WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
	"insHistory": "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
}

func openTPCC(e *env, vfsName string) (*tpccDB, error) {
	conn, err := sqlitevfs.OpenConn(e.ctx, vfsName, dbName, dbConfig)
	if err != nil {
		return nil, err
	}
	t := &tpccDB{conn: conn, stmts: map[string]*sqlite3.Stmt{}}
	e.defer_(t.Close)
	return t, nil
}

func (t *tpccDB) prepare() error {
	for k, sql := range tpccStmts {
		s, _, err := t.conn.Prepare(sql)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", sql, err)
		}
		t.stmts[k] = s
	}
	return nil
}

func (t *tpccDB) Close() error {
	for _, s := range t.stmts {
		s.Close()
	}
	return t.conn.Close()
}

func bind(s *sqlite3.Stmt, args []any) {
	for i, a := range args {
		switch v := a.(type) {
		case int:
			s.BindInt64(i+1, int64(v))
		case int64:
			s.BindInt64(i+1, v)
		case float64:
			s.BindFloat(i+1, v)
		case string:
			s.BindText(i+1, v)
		}
	}
}

func (t *tpccDB) exec(k string, args ...any) error {
	s := t.stmts[k]
	bind(s, args)
	if err := s.Exec(); err != nil {
		return fmt.Errorf("bench: %s: %w", k, err)
	}
	return nil
}

func (t *tpccDB) queryInt(k string, args ...any) (int64, error) {
	s := t.stmts[k]
	defer s.Reset()
	bind(s, args)
	if !s.Step() {
		if err := s.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("bench: %s: no row", k)
	}
	return s.ColumnInt64(0), nil
}

// tpccTxn is one transaction's inputs, drawn once and applied on every
// node, so that every node runs the same statements.
type tpccTxn struct {
	newOrder bool
	w, d, c  int
	items    []int // new-order: item ids
	qty      []int
	amount   float64 // payment
	date     int64
}

func drawTxn(r *rand.Rand, sc Scale, i int) tpccTxn {
	t := tpccTxn{newOrder: r.IntN(100) < 51, w: 1 + r.IntN(sc.Warehouses), d: 1 + r.IntN(10), c: 1 + r.IntN(sc.CustPerDistrict), date: int64(i)}
	if t.newOrder {
		n := 5 + r.IntN(11)
		for range n {
			t.items = append(t.items, 1+r.IntN(sc.Items))
			t.qty = append(t.qty, 1+r.IntN(10))
		}
	} else {
		t.amount = float64(1+r.IntN(500000)) / 100
	}
	return t
}

// apply runs one transaction.
func (t *tpccDB) apply(x tpccTxn) error {
	if err := t.exec("begin"); err != nil {
		return err
	}
	err := t.body(x)
	if err != nil {
		t.conn.Exec("ROLLBACK")
		return err
	}
	return t.exec("commit")
}

func (t *tpccDB) body(x tpccTxn) error {
	if !x.newOrder {
		if err := t.exec("whYTD", x.amount, x.w); err != nil {
			return err
		}
		if err := t.exec("distYTD", x.amount, x.w, x.d); err != nil {
			return err
		}
		if err := t.exec("custPay", x.amount, x.amount, x.w, x.d, x.c); err != nil {
			return err
		}
		return t.exec("insHistory", x.c, x.d, x.w, x.d, x.w, x.date, x.amount, "payment history data....")
	}
	oid, err := t.queryInt("distNext", x.w, x.d)
	if err != nil {
		return err
	}
	if err := t.exec("distBump", x.w, x.d); err != nil {
		return err
	}
	if err := t.exec("insOrder", x.w, x.d, oid, x.c, x.date, len(x.items)); err != nil {
		return err
	}
	if err := t.exec("insNew", x.w, x.d, oid); err != nil {
		return err
	}
	for i, it := range x.items {
		if _, err := t.queryInt("itemPrice", it); err != nil {
			return err
		}
		q, err := t.queryInt("stockQty", x.w, it)
		if err != nil {
			return err
		}
		nq := q - int64(x.qty[i])
		if nq < 10 {
			nq += 91
		}
		if err := t.exec("stockUpd", nq, x.qty[i], x.w, it); err != nil {
			return err
		}
		if err := t.exec("insLine", x.w, x.d, oid, i+1, it, x.w, x.qty[i], float64(x.qty[i])*1.5, "dist-info-xxxxxxxxxxxxxxx"); err != nil {
			return err
		}
	}
	return nil
}

// tpccLoad fills the schema.
func tpccLoad(t *tpccDB, sc Scale, r *rand.Rand) error {
	if err := t.conn.Exec(tpccSchema); err != nil {
		return err
	}
	if err := t.conn.Exec("BEGIN"); err != nil {
		return err
	}
	text := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		return b.String()
	}
	ins := func(sql string, args ...any) error {
		s, _, err := t.conn.Prepare(sql)
		if err != nil {
			return err
		}
		defer s.Close()
		bind(s, args)
		return s.Exec()
	}
	for i := 1; i <= sc.Items; i++ {
		if err := ins("INSERT INTO item VALUES (?, ?, ?, ?)", i, text(20), float64(100+r.IntN(9900))/100, text(40)); err != nil {
			return err
		}
	}
	for w := 1; w <= sc.Warehouses; w++ {
		if err := ins("INSERT INTO warehouse VALUES (?, ?, 0.1, 300000)", w, text(10)); err != nil {
			return err
		}
		for i := 1; i <= sc.Items; i++ {
			if err := ins("INSERT INTO stock VALUES (?, ?, ?, 0, 0, ?, ?)", w, i, 10+r.IntN(91), text(24), text(40)); err != nil {
				return err
			}
		}
		for d := 1; d <= 10; d++ {
			if err := ins("INSERT INTO district VALUES (?, ?, ?, 0.1, 30000, 1)", w, d, text(10)); err != nil {
				return err
			}
			for c := 1; c <= sc.CustPerDistrict; c++ {
				if err := ins("INSERT INTO customer VALUES (?, ?, ?, ?, 'GC', 0.1, -10, 10, 1, ?)", w, d, c, text(12), text(300)); err != nil {
					return err
				}
			}
		}
	}
	return t.conn.Exec("COMMIT")
}

// figOverlay measures figure 4: a copier's overlay bytes ÷ the database's
// size after a number of TPC-C-like transactions (new-order and payment),
// applied by the writer and by the copier, as the replicated engine
// would. The shared FS is in memory: overlay growth depends on the pages
// touched, not on the disk. The writer's stabilizer is cow's in-process
// Local (figure 1 measures the networked one).
func figOverlay(e *env) error {
	mark := e.mark()
	defer e.closeTo(mark)
	shared := vfs.NewMem()
	// Load through a plain registration, closed before the views exist.
	loadName, err := e.register(shared)
	if err != nil {
		return err
	}
	conn, err := sqlitevfs.OpenConn(e.ctx, loadName, dbName, dbConfig)
	if err != nil {
		return err
	}
	e.p.Printf("fig4: loading %d warehouses, %d items, %d customers per district", e.sc.Warehouses, e.sc.Items, e.sc.CustPerDistrict)
	err = tpccLoad(&tpccDB{conn: conn}, e.sc, e.rng(500))
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	copier, err := cow.NewCopier(shared, cow.Options{})
	if err != nil {
		return err
	}
	writer, err := cow.NewWriter(shared, cow.NewDirect(copier), cow.Options{})
	if err != nil {
		return err
	}
	var dbs []*tpccDB
	for _, v := range []*cow.View{writer, copier} {
		name, err := e.register(v)
		if err != nil {
			return err
		}
		db, err := openTPCC(e, name)
		if err != nil {
			return err
		}
		if err := db.prepare(); err != nil {
			return err
		}
		dbs = append(dbs, db)
	}
	r := e.rng(501)
	done := 0
	keys := []string{"overlay_fraction_1k", "overlay_fraction_10k", "overlay_fraction_50k"}
	nominal := []int{1000, 10000, 50000}
	if len(e.sc.TPCCCheckpoints) > len(keys) {
		return fmt.Errorf("bench: at most %d TPC-C checkpoints", len(keys))
	}
	for ci, cp := range e.sc.TPCCCheckpoints {
		for ; done < cp; done++ {
			x := drawTxn(r, e.sc, done)
			for _, db := range dbs {
				if err := db.apply(x); err != nil {
					return err
				}
			}
			if (done+1)%2000 == 0 {
				e.p.Printf("fig4: %d/%d transactions, overlay %d KiB", done+1, e.sc.TPCCCheckpoints[len(e.sc.TPCCCheckpoints)-1], copier.Stats().OverlayBytes>>10)
			}
		}
		fi, err := shared.Stat(dbName)
		if err != nil {
			return err
		}
		st := copier.Stats()
		frac := float64(st.OverlayBytes) / float64(fi.Size())
		e.p.Printf("fig4: after %d transactions: overlay %d KiB, database %d KiB, fraction %.3f", cp, st.OverlayBytes>>10, fi.Size()>>10, frac)
		key := keys[ci]
		if cp != nominal[ci] {
			e.rep.Note(key, fmt.Sprintf("after %d transactions (%s scale)", cp, e.sc.Name))
		}
		e.rep.Set(key, frac)
		e.rep.Detail("fig4: after %d txns: overlay %d KiB in %d blocks over %d files, DB %d KiB, writer stabilized %d regions in %d calls",
			cp, st.OverlayBytes>>10, st.OverlayBlocks, st.OverlayFiles, fi.Size()>>10, writer.Stats().RegionsStabilized, writer.Stats().StabilizeCalls)
	}
	for _, key := range keys[len(e.sc.TPCCCheckpoints):] {
		e.rep.NotMeasured(key, fmt.Sprintf("%s scale stops at %d transactions", e.sc.Name, e.sc.TPCCCheckpoints[len(e.sc.TPCCCheckpoints)-1]))
	}
	return nil
}
