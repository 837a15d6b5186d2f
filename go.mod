module github.com/ferry-sync/ferry

go 1.26.8
