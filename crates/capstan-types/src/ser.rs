//! `skip_serializing_if` predicates shared by the object types.

/// `true` for `false`: omit a boolean that is off.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

/// `true` for `0`: omit a number that is zero.
pub(crate) fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// `true` for a value equal to its type's default: omit an empty struct.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
