module example.com/nopprof

go 1.21
