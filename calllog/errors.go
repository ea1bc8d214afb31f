package calllog

import "errors"

var (
	// ErrClosed is returned by writes on a Store after Close.
	ErrClosed = errors.New("calllog: store closed")
	// ErrNotFound is returned by Get when no record exists for the call ID.
	ErrNotFound = errors.New("calllog: record not found")
	// ErrDuplicate is wrapped by WriteRecord when the call already has a
	// record; the first record stands (one record per call, R6).
	ErrDuplicate = errors.New("calllog: record already written for call")
	// ErrUnsupportedDriver is returned by Open and OpenReadOnly for a driver
	// other than "sqlite".
	ErrUnsupportedDriver = errors.New("calllog: unsupported driver")
	// ErrSchemaVersion is wrapped when the database schema version does not
	// match this build: newer than the embedded migrations (upgrade the
	// binary), or, for OpenReadOnly, not yet migrated (start the server once).
	ErrSchemaVersion = errors.New("calllog: unsupported database schema version")
	// ErrReadOnly is returned by writes on a Store opened with OpenReadOnly.
	ErrReadOnly = errors.New("calllog: store is read-only")
	// ErrInvalid is wrapped when an argument cannot be stored, such as an
	// event or record without a call ID.
	ErrInvalid = errors.New("calllog: invalid argument")
)
