module mizzen.dev/scripts/testimages

go 1.24
