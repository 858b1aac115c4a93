module example.com/heapdump

go 1.19
