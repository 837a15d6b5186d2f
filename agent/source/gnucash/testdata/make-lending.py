#!/usr/bin/python3
# Writes lending.gnucash (XML, gzip) and lending-sqlite.gnucash with
# GnuCash's own engine (Debian python3-gnucash), for the gnucash connector's
# tests of payments, credit notes and bank accounts.
import datetime, os, sys
from decimal import Decimal
from gnucash import Session, SessionOpenMode, Account, GncNumeric, Transaction, Split
from gnucash.gnucash_business import Customer, Vendor, Invoice, Bill, Entry, Address

out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
xml = os.path.join(out, "lending.gnucash")
sqlite = os.path.join(out, "lending-sqlite.gnucash")
for p in (xml, sqlite):
    if os.path.exists(p):
        os.remove(p)

def num(s):
    d = Decimal(s)
    return GncNumeric(int(d * 100), 100)

def day(y, m, d):
    return datetime.datetime(y, m, d, 10, 59, 0)

# GnuCash 4.13's Python session commits a new SQLite store's book twice
# (UNIQUE constraint failed: books.guid, logged and harmless): the store is
# made, closed, and opened again before anything is added.
s = Session("sqlite3://" + sqlite, SessionOpenMode.SESSION_NEW_STORE)
s.end()
s.destroy()
s = Session("sqlite3://" + sqlite, SessionOpenMode.SESSION_NORMAL_OPEN)
book = s.book
ct = book.get_table()
eur = ct.lookup("CURRENCY", "EUR")
root = book.get_root_account()

def account(parent, name, typ, code=""):
    a = Account(book)
    a.BeginEdit()
    a.SetName(name)
    a.SetType(typ)
    a.SetCommodity(eur)
    if code:
        a.SetCode(code)
    parent.append_child(a)
    a.CommitEdit()
    return a

from gnucash import gnucash_core_c as c
assets = account(root, "Assets", c.ACCT_TYPE_ASSET)
bank = account(assets, "Current Account", c.ACCT_TYPE_BANK, "1200")
savings = account(assets, "Savings", c.ACCT_TYPE_BANK, "1210")
cash = account(assets, "Petty Cash", c.ACCT_TYPE_CASH, "1230")
ar = account(assets, "Accounts Receivable", c.ACCT_TYPE_RECEIVABLE, "1100")
liab = account(root, "Liabilities", c.ACCT_TYPE_LIABILITY)
card = account(liab, "Credit Card", c.ACCT_TYPE_CREDIT, "2300")
ap = account(liab, "Accounts Payable", c.ACCT_TYPE_PAYABLE, "2100")
equity = account(root, "Equity", c.ACCT_TYPE_EQUITY)
capital = account(equity, "Capital", c.ACCT_TYPE_EQUITY, "3000")
income = account(root, "Income", c.ACCT_TYPE_INCOME)
sales = account(income, "Sales", c.ACCT_TYPE_INCOME, "4000")
expenses = account(root, "Expenses", c.ACCT_TYPE_EXPENSE)
supplies = account(expenses, "Supplies", c.ACCT_TYPE_EXPENSE, "5000")

def transfer(date, desc, debit, credit, amount):
    t = Transaction(book)
    t.BeginEdit()
    t.SetCurrency(eur)
    t.SetDate(date.day, date.month, date.year)
    t.SetDescription(desc)
    for acc, v in ((debit, num(amount)), (credit, num(amount).neg())):
        sp = Split(book)
        sp.SetParent(t)
        sp.SetAccount(acc)
        sp.SetValue(v)
        sp.SetAmount(v)
    t.CommitEdit()

transfer(day(2024, 1, 2), "Owner's capital", bank, capital, "5000.00")
transfer(day(2024, 1, 3), "To savings", savings, bank, "1500.00")
transfer(day(2024, 1, 4), "Cash float", cash, bank, "200.00")

anna = Customer(book, "C001", eur, "Anna's Bakery")
anna.GetAddr().SetName("Anna Berg")
anna.GetAddr().SetAddr1("1 Mill Lane")
bo = Customer(book, "C002", eur, "Bo's Garage")
paper = Vendor(book, "V001", eur, "Paper Supplies Ltd")
rent = Vendor(book, "V002", eur, "Office Rent GmbH")

def document(cls, oid, owner, opened, lines, credit=False):
    d = cls(book, oid, eur, owner, opened.date() if False else opened)
    d.SetIsCreditNote(credit)
    for desc, qty, price in lines:
        e = Entry(book, d)
        e.SetDate(opened)
        e.SetDateEntered(opened)
        e.SetDescription(desc)
        e.SetDocQuantity(num(qty), credit)  # GnuCash stores a credit note's quantities negated
        if cls is Invoice:
            e.SetInvAccount(sales)
            e.SetInvPrice(num(price))
            e.SetInvTaxable(False)
        else:
            e.SetBillAccount(supplies)
            e.SetBillPrice(num(price))
            e.SetBillTaxable(False)
    return d

def post(d, acc, date, due):
    d.PostToAccount(acc, date, due, "", True, False)

inv1 = document(Invoice, "INV-1", anna, day(2024, 2, 1), [("Bread, 100 loaves", "100", "1.50"), ("Delivery", "1", "50.00")])
post(inv1, ar, day(2024, 2, 1), day(2024, 3, 1))
inv2 = document(Invoice, "INV-2", anna, day(2024, 2, 10), [("Cakes", "20", "10.00")])
post(inv2, ar, day(2024, 2, 10), day(2024, 3, 10))
inv3 = document(Invoice, "INV-3", bo, day(2024, 2, 15), [("Pastries", "40", "2.00")])
post(inv3, ar, day(2024, 2, 15), day(2024, 3, 15))
inv4 = document(Invoice, "INV-4", bo, day(2024, 3, 1), [("Catering", "1", "300.00")])
post(inv4, ar, day(2024, 3, 1), day(2024, 3, 31))
cn1 = document(Invoice, "CN-1", anna, day(2024, 2, 20), [("Stale cakes returned", "3", "10.00")], credit=True)
post(cn1, ar, day(2024, 2, 20), day(2024, 2, 20))
draft = document(Invoice, "INV-5", bo, day(2024, 3, 5), [("Not yet sent", "1", "99.00")])

bill1 = document(Bill, "B-1", paper, day(2024, 2, 5), [("Paper, 20 reams", "20", "6.00")])
post(bill1, ap, day(2024, 2, 5), day(2024, 3, 5))
bill2 = document(Bill, "B-2", rent, day(2024, 2, 1), [("Rent, February", "1", "800.00")])
post(bill2, ap, day(2024, 2, 1), day(2024, 2, 1))
bcn1 = document(Bill, "BCN-1", paper, day(2024, 2, 12), [("Damaged reams", "2", "6.00")], credit=True)
post(bcn1, ap, day(2024, 2, 12), day(2024, 2, 12))

def pay(owner, acc, xfer, amount, date, memo, lots=None, auto=True):
    lotlist = None
    # GnuCash's payment dialog negates a payment to a vendor.
    if isinstance(owner, Customer):
        owner.ApplyPayment(None, lotlist, acc, xfer, num(amount), GncNumeric(1, 1), date, memo, "", auto)
    else:
        owner.ApplyPaymentSecs(None, lotlist, acc, xfer, num(amount).neg(), GncNumeric(1, 1), date, memo, "", auto)

# Anna pays 100.00 on INV-1 (partly), from her bank transfer.
inv1.ApplyPayment(None, bank, num("100.00"), GncNumeric(1, 1), day(2024, 2, 25), "Part payment", "")
# Bo pays 80.00 for INV-3, in cash.
inv3.ApplyPayment(None, cash, num("80.00"), GncNumeric(1, 1), day(2024, 2, 28), "Cash", "")
# Anna pays 300.00 against her account: GnuCash allocates it to her
# oldest documents (the credit note with them) and keeps the rest as a
# payment on account.
pay(anna, ar, bank, "270.00", day(2024, 3, 5), "Transfer")
# Rent paid by card; paper bill paid from the bank, its credit note used.
pay(rent, ap, card, "800.00", day(2024, 2, 2), "Card")
pay(paper, ap, bank, "100.00", day(2024, 3, 2), "Transfer")
# Bo pays 350.00 for INV-4 (300.00): 50.00 stays on his account.
pay(bo, ar, bank, "350.00", day(2024, 3, 20), "Transfer")

s.save()
s.end()
s.destroy()

# The same book as XML, as GnuCash's Save As writes it: a new session, the
# book's data swapped in, saved (compressed, GnuCash's default).
src = Session("sqlite3://" + sqlite, SessionOpenMode.SESSION_READ_ONLY)
dst = Session("xml://" + xml, SessionOpenMode.SESSION_NEW_OVERWRITE)
dst.swap_data(src)
# Save As marks the new session's book dirty; the bindings cannot, so an
# edit that changes nothing does.
r = dst.book.get_root_account()
r.BeginEdit()
r.SetDescription("")
r.CommitEdit()
dst.save()
dst.end()
src.end()
for p in os.listdir(out):
    if p.startswith("lending") and (p.endswith(".log") or p.endswith(".LCK")):
        os.remove(os.path.join(out, p))
