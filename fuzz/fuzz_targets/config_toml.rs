//! libFuzzer target: `layerwatch_parsers::fuzz_props::config_toml::check` (see its docs for the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| layerwatch_parsers::fuzz_props::config_toml::check(data));
