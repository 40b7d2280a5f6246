package actors

// Unnamed reports whether a conversation's contact name is missing or
// only the channel's id of the user, which the channel's profile API may
// replace (through Runtime.RenameFromProfile).
func Unnamed(contactName, externalUserID string) bool {
	return contactName == "" || contactName == externalUserID
}
