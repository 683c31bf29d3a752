// Exporting a type that does not implement Strategy.
pub struct NotAStrategy;

ticktape_sdk::export_strategy!(NotAStrategy);

fn main() {}
