module mizzen/bench/cnispawn

go 1.22
