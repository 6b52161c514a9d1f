package resurs

import "math/big"

func bigRat(n int64) *big.Rat { return big.NewRat(n, 1) }

func itoa(n int) string { return big.NewInt(int64(n)).String() }
