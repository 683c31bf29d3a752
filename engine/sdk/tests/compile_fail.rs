//! `export_strategy!` misuse is a compile error with a message that says
//! what is wrong. The expected messages are in tests/ui/*.stderr.

#[test]
fn export_strategy_misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
