// A plugin exports exactly one strategy.
use ticktape_sdk::{NoConfig, Strategy};

pub struct A;
impl Strategy for A {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(A)
    }
}

pub struct B;
impl Strategy for B {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(B)
    }
}

ticktape_sdk::export_strategy!(A);
ticktape_sdk::export_strategy!(B);

fn main() {}
