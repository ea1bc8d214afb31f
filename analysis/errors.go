package analysis

import "errors"

var (
	// ErrInvalidOption means an option's value is outside the range the
	// analysers can work with (for example a negative duration, or a
	// hangover longer than SettleLag). NewLeg and NewConversation keep the
	// default for such an option; the Checked constructors return this
	// error, wrapped with the option's name.
	ErrInvalidOption = errors.New("analysis: invalid option")
	// ErrNoCaller means a Conversation was requested without a caller leg.
	ErrNoCaller = errors.New("analysis: conversation needs a caller leg")
)
