package gnucash

import (
	"math/big"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/agent/source"
)

// mapCompany makes the one company record.
func mapCompany(b *book, fileName string) source.Record {
	name := strings.TrimSpace(b.options["Business/Company Name"])
	if name == "" {
		name = bookName(fileName)
	}
	rec := source.Record{"id": "company", "companyName": name}
	if c := baseCurrency(b); c != "" {
		rec["baseCurrency"] = c
	}
	if u := strings.TrimSpace(b.options["Business/Company Website URL"]); u != "" {
		rec["sourceUrls"] = map[string]any{"website": u}
	}
	tax := strings.TrimSpace(b.options["Tax/Tax Number"])
	if tax == "" {
		tax = strings.TrimSpace(b.options["Business/Company ID"])
	}
	if tax != "" {
		rec["taxNumber"] = tax
	}
	if a := textAddress(b.options["Business/Company Address"]); a != nil {
		rec["addresses"] = []any{a}
	}
	var phones []any
	for _, p := range []struct{ opt, typ string }{{"Business/Company Phone Number", "Primary"}, {"Business/Company Fax Number", "Fax"}} {
		if n := strings.TrimSpace(b.options[p.opt]); n != "" {
			phones = append(phones, map[string]any{"number": n, "type": p.typ})
		}
	}
	if phones != nil {
		rec["phoneNumbers"] = phones
	}
	return rec
}

// bookName is the file's name without GnuCash's extensions.
func bookName(file string) string {
	for {
		ext := strings.ToLower(filepath.Ext(file))
		switch ext {
		case ".gz", ".xml", ".gnucash", ".sqlite", ".sqlite3", ".db":
			if len(file) > len(ext) {
				file = file[:len(file)-len(ext)]
				continue
			}
		}
		return file
	}
}

// baseCurrency is the book's default currency: the root account's when it
// is a currency (GnuCash sets it to the book's default), else the currency
// most of the accounts are in, else the first currency the book lists.
func baseCurrency(b *book) string {
	if root := b.accounts[b.rootGUID]; root != nil && root.cmdty.isCurrency() {
		return root.cmdty.id
	}
	count, best := map[string]int{}, ""
	for _, g := range b.accountOrder {
		if c := b.accounts[g].cmdty; c.isCurrency() {
			if count[c.id]++; count[c.id] > count[best] {
				best = c.id
			}
		}
	}
	if best != "" {
		return best
	}
	for _, c := range b.cmdtyOrder {
		if c.isCurrency() {
			return c.id
		}
	}
	return ""
}

// textAddress makes a Billing address of a free-text address, one line
// per line.
func textAddress(s string) map[string]any {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return address("Billing", lines)
}

// address is Codat's address of GnuCash's free lines: the first is line1,
// the others are joined into line2. GnuCash does not say which line is the
// city or the postal code, so none is guessed.
func address(typ string, lines []string) map[string]any {
	if len(lines) == 0 {
		return nil
	}
	a := map[string]any{"type": typ, "line1": lines[0]}
	if len(lines) > 1 {
		a["line2"] = strings.Join(lines[1:], ", ")
	}
	return a
}

// accountTypes maps GnuCash's account types to Codat's.
var accountTypes = map[string]string{
	"ASSET": "Asset", "BANK": "Asset", "CASH": "Asset", "STOCK": "Asset", "MUTUAL": "Asset", "RECEIVABLE": "Asset",
	"CHECKING": "Asset", "SAVINGS": "Asset", "MONEYMRKT": "Asset",
	"LIABILITY": "Liability", "CREDIT": "Liability", "PAYABLE": "Liability", "CREDITLINE": "Liability",
	"EQUITY": "Equity", "TRADING": "Equity", "INCOME": "Income", "EXPENSE": "Expense",
}

// bankTypes are the account types Codat counts as bank accounts: bank
// accounts (and GnuCash 1's kinds of them) and credit cards; GnuCash's
// Imbalance and Orphan accounts (book.suspense) are of type BANK but not
// bank accounts.
var bankTypes = map[string]bool{"BANK": true, "CREDIT": true, "CHECKING": true, "SAVINGS": true, "MONEYMRKT": true}

// mapAccounts emits every account but the root, in the book's order, and
// the Imbalance accounts GnuCash would make for unbalanced transactions.
func mapAccounts(b *book, emit func(source.Record) error) error {
	made, imbalances := imbalanceAccounts(b)
	for _, g := range b.accountOrder {
		a := b.accounts[g]
		if g == b.rootGUID || a.typ == "ROOT" {
			continue
		}
		typ, ok := accountTypes[a.typ]
		if !ok {
			typ = "Unknown"
		}
		status := "Active"
		if a.hidden {
			status = "Archived"
		}
		places := placesOf(a.scu)
		if a.scu <= 0 {
			places = placesOf(b.fraction(a.cmdty))
		}
		bal := new(big.Rat)
		if r := b.balances[g]; r != nil {
			bal.Set(r)
		}
		if r := imbalances[g]; r != nil {
			bal.Add(bal, r)
		}
		rec := source.Record{"id": g, "name": a.name, "fullyQualifiedName": fullName(b, a), "type": typ,
			"status": status, "currentBalance": decimal(bal, places), "isBankAccount": bankTypes[a.typ] && !b.suspense(a),
			"isPlaceholder": a.placeholder}
		setText(rec, "nominalCode", a.code)
		setText(rec, "description", a.description)
		setText(rec, "currency", a.cmdty.id)
		if err := emit(rec); err != nil {
			return err
		}
	}
	for _, rec := range made {
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// imbalanceAccounts is what the book's Imbalance accounts hold beyond
// their splits, by account, and the records of those it lacks, made as
// GnuCash does when it opens the book (it makes them BANK accounts; these
// are not flagged as bank accounts here, as no bank holds them). The book
// is not changed: other types are mapped from it too.
func imbalanceAccounts(b *book) ([]source.Record, map[string]*big.Rat) {
	curs := make([]cmdty, 0, len(b.imbalances))
	for c := range b.imbalances {
		curs = append(curs, c)
	}
	slices.SortFunc(curs, func(x, y cmdty) int { return strings.Compare(x.space+x.id, y.space+y.id) })
	var made []source.Record
	held := map[string]*big.Rat{}
	for _, c := range curs {
		id, name, found := b.imbalanceAccount(c)
		if found {
			add(held, id, b.imbalances[c])
			continue
		}
		made = append(made, source.Record{"id": id, "name": name, "fullyQualifiedName": name, "type": "Asset",
			"status": "Active", "currency": c.id, "currentBalance": decimal(b.imbalances[c], placesOf(b.fraction(c))),
			"isBankAccount": false, "isPlaceholder": false})
	}
	return made, held
}

// fullName is the account's name under its parents', root left out:
// "Assets:Current Assets:Checking".
func fullName(b *book, a *account) string {
	names := []string{a.name}
	for p, depth := b.accounts[a.parent], 0; p != nil && p.guid != b.rootGUID && p.typ != "ROOT" && depth < maxDepth*16; p, depth = b.accounts[p.parent], depth+1 {
		names = append(names, p.name)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return strings.Join(names, ":")
}

// mapTaxRates emits one rate per tax table: its percentages summed.
func mapTaxRates(b *book, emit func(source.Record) error) error {
	for _, t := range b.taxTables {
		total := new(big.Rat)
		var components []any
		for _, e := range t.entries {
			if !e.percent {
				continue // a fixed amount per line is no rate
			}
			total.Add(total, e.amount)
			name := t.name
			if a := b.accounts[e.account]; a != nil {
				name = a.name
			}
			components = append(components, map[string]any{"name": name, "rate": decimal(e.amount, 0), "isCompound": false})
		}
		status := "Active"
		if t.invisible {
			status = "Archived"
		}
		rec := source.Record{"id": t.guid, "name": t.name, "code": t.name, "effectiveTaxRate": decimal(total, 0),
			"totalTaxRate": decimal(total, 0), "status": status}
		if components != nil {
			rec["components"] = components
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// mapContacts emits customers or vendors, their name under nameField.
func mapContacts(list []*contact, nameField string, emit func(source.Record) error) error {
	for _, c := range list {
		status := "Active"
		if !c.active {
			status = "Archived"
		}
		rec := source.Record{"id": c.guid, nameField: c.name, "status": status}
		setText(rec, "contactName", strings.TrimSpace(c.addr.name))
		setText(rec, "emailAddress", c.addr.email)
		setText(rec, "phone", c.addr.phone)
		setText(rec, "defaultCurrency", c.currency.id)
		var addrs []any
		for _, a := range []struct {
			typ string
			a   addr
		}{{"Billing", c.addr}, {"Delivery", c.ship}} {
			var lines []string
			for _, l := range a.a.lines {
				if l = strings.TrimSpace(l); l != "" {
					lines = append(lines, l)
				}
			}
			if m := address(a.typ, lines); m != nil {
				addrs = append(addrs, m)
			}
		}
		if addrs != nil {
			rec["addresses"] = addrs
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// mapTxn makes a journal entry of a transaction: one line per split, its
// value in the transaction's currency, debits positive.
func mapTxn(b *book, t *txn) source.Record {
	places := placesOf(b.fraction(t.currency))
	lines := make([]any, 0, len(t.splits))
	for _, sp := range t.splits {
		ref := map[string]any{"id": sp.account}
		if a := b.accounts[sp.account]; a != nil {
			ref["name"] = a.name
		}
		l := map[string]any{"accountRef": ref, "netAmount": decimal(sp.value, places), "currency": t.currency.id}
		setText(l, "description", sp.memo)
		lines = append(lines, l)
	}
	if r := t.imbalance(); r != nil { // balanced as GnuCash balances it
		id, name, _ := b.imbalanceAccount(t.currency)
		lines = append(lines, map[string]any{"accountRef": map[string]any{"id": id, "name": name},
			"netAmount": decimal(r, places), "currency": t.currency.id})
	}
	rec := source.Record{"id": t.guid, "journalLines": lines}
	setText(rec, "description", t.description)
	switch {
	case !t.postedDate.IsZero():
		rec["postedOn"] = t.postedDate.day(b.loc)
	case !t.posted.IsZero():
		rec["postedOn"] = t.posted.day(b.loc)
	}
	if !t.entered.IsZero() {
		rec["createdOn"] = t.entered.instant()
	}
	return rec
}

// setText sets rec[key] to v unless v is empty.
func setText(rec map[string]any, key, v string) {
	if v != "" {
		rec[key] = v
	}
}
