//! Generators (filled in by the generator work).
