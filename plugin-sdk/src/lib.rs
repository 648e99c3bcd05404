//! Guest SDK for linkgate plugins. The plugin issue (#3) fills this crate; it is empty until then.
