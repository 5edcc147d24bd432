package winlogbeat

// WLBReference exposes wlbReference to the external corpus test (which
// reads through etw/input, an importer of this package).
var WLBReference = wlbReference
