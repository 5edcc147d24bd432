package evtx

import (
	"math"
	"strings"

	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/Velocidex/ordereddict"
)

// fillEvtx fills r from one record as the EVTX library returns it: a tree
// of *ordereddict.Dict
//
//	Event
//	  System     Provider{Name}, EventID (a number, or {Qualifiers, Value}),
//	             TimeCreated{SystemTime}, Channel, Computer
//	  EventData  field name -> value (the library folds <Data Name="X">v</Data>
//	             into X: v; a lone Data element stays {Data: {Name, Value}})
//
// Values are strings, unsigned integers, or float seconds for FILETIMEs.
// Names are the ones Sysmon and Security write, the same as in forwarded
// JSON. Anything of another shape is ignored (the field stays unknown).
// It returns false when the record has no Event/System structure at all.
func fillEvtx(r *winlog.Record, record any) bool {
	r.Reset()
	root, ok := record.(*ordereddict.Dict)
	if !ok || root == nil {
		return false
	}
	event, ok := dictAt(root, "Event")
	if !ok {
		return false
	}
	system, ok := dictAt(event, "System")
	if !ok {
		return false
	}
	if data, ok := dictAt(event, "EventData"); ok {
		fillEvtxData(r, data)
	}
	// System last: its fields win over EventData members of the same name.
	if v, ok := system.Get("EventID"); ok {
		if d, isDict := v.(*ordereddict.Dict); isDict {
			v, _ = d.Get("Value")
		}
		setEvtxValue(r, winlog.FieldEventID, v)
	}
	if v, ok := system.Get("Channel"); ok {
		setEvtxValue(r, winlog.FieldChannel, v)
	}
	if v, ok := system.Get("Computer"); ok {
		setEvtxValue(r, winlog.FieldHost, v)
	}
	if p, ok := dictAt(system, "Provider"); ok {
		if v, ok := p.Get("Name"); ok {
			setEvtxValue(r, winlog.FieldProvider, v)
		}
	}
	if tc, ok := dictAt(system, "TimeCreated"); ok {
		if v, ok := tc.Get("SystemTime"); ok {
			setEvtxValue(r, winlog.FieldTimeCreated, v)
		}
	}
	return true
}

// fillEvtxData stores the EventData members of interest.
func fillEvtxData(r *winlog.Record, data *ordereddict.Dict) {
	if raw, ok := data.Get("Data"); ok {
		// Not folded by the library: one Data element, or elements the
		// library could not fold.
		switch d := raw.(type) {
		case *ordereddict.Dict:
			fillEvtxNamed(r, d)
		case []any:
			for _, item := range d {
				if it, ok := item.(*ordereddict.Dict); ok {
					fillEvtxNamed(r, it)
				}
			}
		}
	}
	for _, k := range data.Keys() {
		id, ok := winlog.LookupField([]byte(k))
		if !ok {
			continue
		}
		v, _ := data.Get(k)
		setEvtxValue(r, id, v)
	}
}

// fillEvtxNamed stores one unfolded {Name, Value} Data element.
func fillEvtxNamed(r *winlog.Record, d *ordereddict.Dict) {
	n, ok := d.Get("Name")
	if !ok {
		return
	}
	name, ok := n.(string)
	if !ok {
		return
	}
	id, ok := winlog.LookupField([]byte(name))
	if !ok {
		return
	}
	v, _ := d.Get("Value")
	setEvtxValue(r, id, v)
}

func dictAt(d *ordereddict.Dict, key string) (*ordereddict.Dict, bool) {
	v, ok := d.Get(key)
	if !ok {
		return nil, false
	}
	sub, ok := v.(*ordereddict.Dict)
	return sub, ok && sub != nil
}

// setEvtxValue stores one library value in slot id.
func setEvtxValue(r *winlog.Record, id winlog.FieldID, v any) {
	switch x := v.(type) {
	case string:
		r.SetString(id, x)
	case uint8:
		r.SetUint(id, uint64(x))
	case uint16:
		r.SetUint(id, uint64(x))
	case uint32:
		r.SetUint(id, uint64(x))
	case uint64:
		r.SetUint(id, x)
	case int:
		if x >= 0 {
			r.SetUint(id, uint64(x))
		}
	case int64:
		if x >= 0 {
			r.SetUint(id, uint64(x))
		}
	case float64:
		if !math.IsNaN(x) {
			r.SetSeconds(id, x)
		}
	case []string:
		// REG_MULTI_SZ-like lists: joined with one space, as Sysmon
		// renders them.
		r.SetString(id, strings.TrimSpace(strings.Join(x, " ")))
	}
}
