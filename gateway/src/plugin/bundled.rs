//! The bundled plugin components, built from `plugins/` by the gateway's
//! build script and embedded in the binary: `topic-filter`,
//! `group-filter`, `prefix`, `acl-map`, `record-filter`, `json-mask`
//! (config keys in
//! `plugins/README.md` and each plugin's crate docs).

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// The wasm bytes of a bundled plugin by name, `None` for an unknown name.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUNDLED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_bundled_plugin_is_a_component() {
        for name in crate::config::BUNDLED_PLUGINS {
            let bytes = super::get(name).unwrap_or_else(|| panic!("{name} is not bundled"));
            // Component binary: "\0asm" + version 0x0d 0x00 + layer 0x01 0x00.
            assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "{name}");
        }
    }
}
