package ocpp

import (
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// englishPrinter renders schema violations; it is immutable once made.
var englishPrinter = message.NewPrinter(language.English)
