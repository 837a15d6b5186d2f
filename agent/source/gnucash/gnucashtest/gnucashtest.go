// Package gnucashtest generates GnuCash books for tests: as big as a test
// asks, laid out as GnuCash saves them, with every data type the gnucash
// connector maps. The unit tests of the connector and the end-to-end tests
// of the real binaries read the same generated books.
package gnucashtest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
)

// Account is one of a generated book's accounts.
type Account struct{ GUID, Name, Type string }

// RootGUID is the guid of a generated book's root account.
const RootGUID = "a0000000000000000000000000000000"

// accounts are the generated book's accounts under its root.
var accounts = []Account{
	{"a0000000000000000000000000000001", "Bank", "BANK"},
	{"a0000000000000000000000000000002", "Sales", "INCOME"},
	{"a0000000000000000000000000000003", "Rent", "EXPENSE"},
	{"a0000000000000000000000000000004", "Receivables", "RECEIVABLE"},
}

// Accounts returns the accounts of a generated book under its root (the
// root itself, RootGUID, is not one of them): what its chart of accounts
// holds.
func Accounts() []Account { return slices.Clone(accounts) }

// WriteBook writes a generated book of the given number of transactions
// (two splits each), gzip-compressed as GnuCash saves a book; see
// WriteXML for what it holds.
func WriteBook(w io.Writer, transactions int) error { return WriteBookWith(w, transactions, Options{}) }

// WriteXML writes a book as plain XML, laid out as GnuCash lays one out:
// the GBP commodity; the accounts (a root, then Accounts); the given
// number of transactions of two splits each, 1p to 99.99 moved between
// the accounts in turn (transaction i's guid is "7" then i in 31 hex
// digits); then a customer, an unposted invoice of one line and a tax
// table. Errors of w are returned.
func WriteXML(w io.Writer, transactions int) error { return WriteXMLWith(w, transactions, Options{}) }

// Options change what a generated book holds.
type Options struct {
	// Payments makes every transaction from Receivables to Bank (one in
	// four) a payment on account by the customer: marked P, its receivable
	// split in a lot the customer owns. Such a book has that many payments.
	Payments bool
}

// PaymentLotGUID is the guid of the lot that holds the payments of a book
// written with Options.Payments.
const PaymentLotGUID = "e1000000000000000000000000000001"

// CustomerGUID is the guid of a generated book's customer.
const CustomerGUID = "c0000000000000000000000000000001"

// WriteBookWith is WriteBook with options.
func WriteBookWith(w io.Writer, transactions int, o Options) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := WriteXMLWith(gz, transactions, o); err != nil {
		return err
	}
	return gz.Close()
}

// WriteXMLWith is WriteXML with options.
func WriteXMLWith(w io.Writer, transactions int, o Options) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	fmt.Fprint(bw, `<?xml version="1.0" encoding="utf-8" ?>
<gnc-v2
     xmlns:gnc="http://www.gnucash.org/XML/gnc"
     xmlns:act="http://www.gnucash.org/XML/act"
     xmlns:book="http://www.gnucash.org/XML/book"
     xmlns:cmdty="http://www.gnucash.org/XML/cmdty"
     xmlns:slot="http://www.gnucash.org/XML/slot"
     xmlns:split="http://www.gnucash.org/XML/split"
     xmlns:trn="http://www.gnucash.org/XML/trn"
     xmlns:ts="http://www.gnucash.org/XML/ts"
     xmlns:lot="http://www.gnucash.org/XML/lot"
     xmlns:cust="http://www.gnucash.org/XML/cust"
     xmlns:addr="http://www.gnucash.org/XML/addr"
     xmlns:entry="http://www.gnucash.org/XML/entry"
     xmlns:invoice="http://www.gnucash.org/XML/invoice"
     xmlns:owner="http://www.gnucash.org/XML/owner"
     xmlns:taxtable="http://www.gnucash.org/XML/taxtable"
     xmlns:tte="http://www.gnucash.org/XML/tte">
<gnc:book version="2.0.0">
<book:id type="guid">b0000000000000000000000000000000</book:id>
<gnc:commodity version="2.0.0">
  <cmdty:space>CURRENCY</cmdty:space>
  <cmdty:id>GBP</cmdty:id>
</gnc:commodity>
`)
	account := func(guid, name, typ, parent string) {
		fmt.Fprintf(bw, `<gnc:account version="2.0.0">
  <act:name>%s</act:name>
  <act:id type="guid">%s</act:id>
  <act:type>%s</act:type>
  <act:commodity>
    <cmdty:space>CURRENCY</cmdty:space>
    <cmdty:id>GBP</cmdty:id>
  </act:commodity>
  <act:commodity-scu>100</act:commodity-scu>
`, name, guid, typ)
		if parent != "" {
			fmt.Fprintf(bw, "  <act:parent type=\"guid\">%s</act:parent>\n", parent)
		}
		if o.Payments && typ == "RECEIVABLE" {
			fmt.Fprintf(bw, `  <act:lots>
    <gnc:lot version="2.0.0">
      <lot:id type="guid">%s</lot:id>
      <lot:slots>
        <slot>
          <slot:key>gncOwner</slot:key>
          <slot:value type="frame">
            <slot>
              <slot:key>owner-guid</slot:key>
              <slot:value type="guid">%s</slot:value>
            </slot>
            <slot>
              <slot:key>owner-type</slot:key>
              <slot:value type="integer">2</slot:value>
            </slot>
          </slot:value>
        </slot>
      </lot:slots>
    </gnc:lot>
  </act:lots>
`, PaymentLotGUID, CustomerGUID)
		}
		fmt.Fprint(bw, "</gnc:account>\n")
	}
	account(RootGUID, "Root Account", "ROOT", "")
	for _, a := range accounts {
		account(a.GUID, a.Name, a.Type, RootGUID)
	}
	for i := range transactions {
		from, to := accounts[i%len(accounts)].GUID, accounts[(i+1)%len(accounts)].GUID
		amount := i%9999 + 1
		slots, lot := "", ""
		if o.Payments && from == accounts[3].GUID { // Receivables to Bank
			slots = `
  <trn:slots>
    <slot>
      <slot:key>trans-txn-type</slot:key>
      <slot:value type="string">P</slot:value>
    </slot>
  </trn:slots>`
			lot = `
      <split:lot type="guid">` + PaymentLotGUID + `</split:lot>`
		}
		fmt.Fprintf(bw, `<gnc:transaction version="2.0.0">
  <trn:id type="guid">7%031x</trn:id>
  <trn:currency>
    <cmdty:space>CURRENCY</cmdty:space>
    <cmdty:id>GBP</cmdty:id>
  </trn:currency>
  <trn:date-posted>
    <ts:date>2024-%02d-%02d 10:59:00 +0000</ts:date>
  </trn:date-posted>
  <trn:date-entered>
    <ts:date>2024-%02d-%02d 12:00:00 +0000</ts:date>
  </trn:date-entered>
  <trn:description>Generated transaction %d</trn:description>%s
  <trn:splits>
    <trn:split>
      <split:id type="guid">5%031x</split:id>
      <split:reconciled-state>n</split:reconciled-state>
      <split:value>%d/100</split:value>
      <split:quantity>%d/100</split:quantity>
      <split:account type="guid">%s</split:account>
    </trn:split>
    <trn:split>
      <split:id type="guid">5%031x</split:id>
      <split:memo>line %d</split:memo>
      <split:reconciled-state>n</split:reconciled-state>
      <split:value>-%d/100</split:value>
      <split:quantity>-%d/100</split:quantity>
      <split:account type="guid">%s</split:account>%s
    </trn:split>
  </trn:splits>
</gnc:transaction>
`, i, i%12+1, i%28+1, i%12+1, i%28+1, i, slots, 2*i, amount, amount, to, 2*i+1, i, amount, amount, from, lot)
	}
	fmt.Fprint(bw, `<gnc:GncCustomer version="2.0.0">
  <cust:guid type="guid">c0000000000000000000000000000001</cust:guid>
  <cust:name>Generated Customer</cust:name>
  <cust:id>000001</cust:id>
  <cust:addr version="2.0.0">
    <addr:addr1>1 High Street</addr:addr1>
  </cust:addr>
  <cust:active>1</cust:active>
  <cust:currency>
    <cmdty:space>CURRENCY</cmdty:space>
    <cmdty:id>GBP</cmdty:id>
  </cust:currency>
</gnc:GncCustomer>
<gnc:GncEntry version="2.0.0">
  <entry:guid type="guid">e0000000000000000000000000000001</entry:guid>
  <entry:date>
    <ts:date>2024-05-01 10:59:00 +0000</ts:date>
  </entry:date>
  <entry:description>Widgets</entry:description>
  <entry:qty>3/1</entry:qty>
  <entry:i-acct type="guid">a0000000000000000000000000000002</entry:i-acct>
  <entry:i-price>1999/100</entry:i-price>
  <entry:invoice type="guid">d0000000000000000000000000000001</entry:invoice>
  <entry:i-taxable>1</entry:i-taxable>
  <entry:i-taxincluded>0</entry:i-taxincluded>
  <entry:i-taxtable type="guid">f0000000000000000000000000000001</entry:i-taxtable>
</gnc:GncEntry>
<gnc:GncInvoice version="2.0.0">
  <invoice:guid type="guid">d0000000000000000000000000000001</invoice:guid>
  <invoice:id>INV-1</invoice:id>
  <invoice:owner version="2.0.0">
    <owner:type>gncCustomer</owner:type>
    <owner:id type="guid">c0000000000000000000000000000001</owner:id>
  </invoice:owner>
  <invoice:opened>
    <ts:date>2024-05-01 10:59:00 +0000</ts:date>
  </invoice:opened>
  <invoice:active>1</invoice:active>
  <invoice:currency>
    <cmdty:space>CURRENCY</cmdty:space>
    <cmdty:id>GBP</cmdty:id>
  </invoice:currency>
</gnc:GncInvoice>
<gnc:GncTaxTable version="2.0.0">
  <taxtable:guid type="guid">f0000000000000000000000000000001</taxtable:guid>
  <taxtable:name>VAT</taxtable:name>
  <taxtable:invisible>0</taxtable:invisible>
  <taxtable:entries>
    <gnc:GncTaxTableEntry>
      <tte:acct type="guid">a0000000000000000000000000000004</tte:acct>
      <tte:amount>20/1</tte:amount>
      <tte:type>PERCENT</tte:type>
    </gnc:GncTaxTableEntry>
  </taxtable:entries>
</gnc:GncTaxTable>
</gnc:book>
</gnc-v2>
`)
	return bw.Flush()
}
