"""Small utilities shared across elmo_c."""
