module example.com/symkeep-demo

go 1.19
