module mizzen/cni

go 1.22
