//! TODO
use crate::Result;
use crate::convert::Ctx;
use crate::input::Member;
pub(crate) fn convert(_ctx: &mut Ctx<'_>, _m: &mut Member<'_>) -> Result<u64> {
    Ok(0)
}
