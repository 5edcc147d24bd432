// Package sessmgr knows the Session Manager registry key: which key
// paths are it or under it, in any control set and any of the forms the
// sources write.
//
//	sessmgr.IsKey(`\REGISTRY\MACHINE\SYSTEM\ControlSet001\Control\Session Manager\KnownDLLs`) // true
//	sessmgr.IsControlSet("ControlSet002")                                                 // true
//
// The mappers (etw/winlog) keep only registry events under it.
package sessmgr
