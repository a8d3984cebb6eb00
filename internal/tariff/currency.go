package tariff

// MinorUnits returns the number of decimals of currency's minor unit
// (ISO 4217): 2 for most currencies, 0 or 3 for the few listed here. It
// is where totals are rounded (doc.go, "Rounding").
func MinorUnits(currency string) int32 {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}
