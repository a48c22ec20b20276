//! Convolutions: `Conv` (1-D and 2-D, any `group`, explicit padding or `auto_pad`) and
//! `ConvTranspose` (1-D and 2-D, any `group`, `output_padding`) become one `Conv` node each
//! (see [`crate::ir::Conv2d`] for both geometries). A 1-D convolution is a 2-D one of height 1.

use super::tensor::{checked_numel, Const};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{Conv2d, Op};
use ndarray::{Array1, Array4, Ix4, IxDyn};

/// Largest stride, dilation, padding or group count accepted, so that no geometry arithmetic
/// can overflow.
const MAX_GEOMETRY: i64 = 1 << 20;

/// A 2-element `[h, w]` attribute (strides, dilations), each at least 1.
fn pair(cx: &Cx, name: &str) -> Result<[usize; 2], String> {
    match cx.attrs.ints(name) {
        None => Ok([1, 1]),
        Some(&[h, w]) if (1..=MAX_GEOMETRY).contains(&h) && (1..=MAX_GEOMETRY).contains(&w) => {
            Ok([h as usize, w as usize])
        }
        Some(v) => Err(format!(
            "{name} {v:?} is not supported (two values ≥ 1 expected)"
        )),
    }
}

/// One value of a 1-D convolution attribute (`strides`, `dilations`), default 1.
fn single(cx: &Cx, name: &str) -> Result<usize, String> {
    match cx.attrs.ints(name) {
        None => Ok(1),
        Some(&[v]) if (1..=MAX_GEOMETRY).contains(&v) => Ok(v as usize),
        Some(v) => Err(format!(
            "{name} {v:?} is not supported (one value ≥ 1 expected)"
        )),
    }
}

/// What `Conv` and `ConvTranspose` share: the live input, the weight as 4-D, the input as
/// `[C, H, W]`, the group count, strides, dilations and the explicit `pads` attribute
/// (`[top, left, bottom, right]`; `None` when absent).
struct Common<'a> {
    x: &'a Live,
    weight: Array4<f64>,
    one_d: bool,
    in_chw: [usize; 3],
    groups: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: Option<[usize; 4]>,
    auto_pad: String,
}

impl Common<'_> {
    /// The output shape in the input's layout (batch dimension kept, 1-D as `[C, L]`).
    fn out_shape(&self, [oc, oh, ow]: [usize; 3]) -> Vec<usize> {
        let batched = self.x.shape.len() == if self.one_d { 3 } else { 4 };
        match (self.one_d, batched) {
            (false, true) => vec![1, oc, oh, ow],
            (false, false) => vec![oc, oh, ow],
            (true, true) => vec![1, oc, ow],
            (true, false) => vec![oc, ow],
        }
    }
}

fn common<'a>(cx: &Cx<'a>) -> Result<Common<'a>, String> {
    cx.arity(2, 3)?;
    let x = cx.live(0)?;
    let w = cx.constant(1, "the weight")?;
    let groups = cx.attrs.int("group", 1);
    if !(1..=MAX_GEOMETRY).contains(&groups) {
        return Err(format!(
            "group={groups} is not supported (1 or more expected)"
        ));
    }
    let auto_pad = cx.attrs.string("auto_pad").unwrap_or_default();
    let one_d = w.shape().len() == 3;
    let data = if one_d {
        let (a, b, k) = (w.shape()[0], w.shape()[1], w.shape()[2]);
        w.data
            .clone()
            .into_shape_clone(IxDyn(&[a, b, 1, k]))
            .map_err(|e| e.to_string())?
    } else {
        w.data.clone()
    };
    let weight = data.into_dimensionality::<Ix4>().map_err(|_| {
        format!(
            "only 1-D and 2-D convolutions are supported (weight {:?})",
            w.shape()
        )
    })?;
    let in_chw = match (one_d, x.shape.as_slice()) {
        (false, &[1, c, h, w] | &[c, h, w]) => [c, h, w],
        (true, &[1, c, l] | &[c, l]) => [c, 1, l],
        _ => {
            return Err(format!(
                "input shape {:?} does not fit a {}-D convolution",
                x.shape,
                if one_d { 1 } else { 2 }
            ))
        }
    };
    let (_, _, kh, kw) = weight.dim();
    if let Some(ks) = cx.attrs.ints("kernel_shape") {
        let want: Vec<i64> = if one_d {
            vec![kw as i64]
        } else {
            vec![kh as i64, kw as i64]
        };
        if ks != want.as_slice() {
            return Err(format!(
                "kernel_shape {ks:?} differs from the weight {:?}",
                w.shape()
            ));
        }
    }
    let (stride, dilation) = if one_d {
        ([1, single(cx, "strides")?], [1, single(cx, "dilations")?])
    } else {
        (pair(cx, "strides")?, pair(cx, "dilations")?)
    };
    let ok = |p: &[i64]| p.iter().all(|p| (0..=MAX_GEOMETRY).contains(p));
    let pads = match cx.attrs.ints("pads") {
        None => None,
        Some(&[l, r]) if one_d && ok(&[l, r]) => Some([0, l as usize, 0, r as usize]),
        Some(&[t, l, bo, r]) if !one_d && ok(&[t, l, bo, r]) => {
            Some([t as usize, l as usize, bo as usize, r as usize])
        }
        Some(p) => {
            return Err(format!(
                "pads {p:?} are not supported (values ≥ 0, two per axis)"
            ))
        }
    };
    Ok(Common {
        x,
        weight,
        one_d,
        in_chw,
        groups: groups as usize,
        stride,
        dilation,
        pads,
        auto_pad,
    })
}

/// The optional bias (input 2) of `channels` values, zeros when absent.
fn bias(cx: &Cx, channels: usize) -> Result<Array1<f64>, String> {
    match cx.opt(2) {
        None => Ok(Array1::zeros(channels)),
        Some(_) => {
            let c: &Const = cx.constant(2, "the bias")?;
            if c.data.len() != channels {
                return Err(format!(
                    "the bias has shape {:?}, expected [{channels}]",
                    c.shape()
                ));
            }
            Ok(c.data.iter().copied().collect())
        }
    }
}

/// `Conv`: 2-D, or 1-D as a 2-D convolution of height 1 (input `[1, C, L]` or `[C, L]`,
/// weight `[O, C/group, K]`); any `group` dividing the channels; explicit padding or `auto_pad`
/// VALID, SAME_UPPER, SAME_LOWER (`SAME_*` pads each spatial axis by
/// `max((⌈n/s⌉ − 1)·s + (k − 1)·d + 1 − n, 0)` in all, the odd one at the end for UPPER and at
/// the start for LOWER). Input `[1, C, H, W]` or `[C, H, W]` for 2-D.
pub(super) fn conv(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    let c = common(cx)?;
    let (co, ci_g, kh, kw) = c.weight.dim();
    let auto_pad = c.auto_pad.as_str();
    if !matches!(
        auto_pad,
        "" | "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER"
    ) {
        return Err(format!("auto_pad={auto_pad} is not supported"));
    }
    if ci_g * c.groups != c.in_chw[0] || co % c.groups != 0 {
        return Err(format!(
            "the weight {:?} with group={} does not fit the input {:?} ({} channels)",
            c.weight.dim(),
            c.groups,
            c.x.shape,
            c.in_chw[0]
        ));
    }
    let same = |n: usize, k: usize, s: usize, d: usize| {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + (k - 1) * d + 1).saturating_sub(n);
        let (small, big) = (total / 2, total - total / 2);
        if auto_pad == "SAME_UPPER" {
            (small, big)
        } else {
            (big, small)
        }
    };
    let pads = match c.pads {
        _ if auto_pad == "VALID" => [0; 4],
        _ if auto_pad.starts_with("SAME") => {
            let (t, bo) = same(c.in_chw[1], kh, c.stride[0], c.dilation[0]);
            let (l, r) = same(c.in_chw[2], kw, c.stride[1], c.dilation[1]);
            [t, l, bo, r]
        }
        p => p.unwrap_or([0; 4]),
    };
    let bias = bias(cx, co)?;
    let x = c.x;
    let conv = Conv2d::grouped(
        c.weight.clone(),
        bias,
        c.stride,
        pads,
        c.dilation,
        c.in_chw,
        c.groups,
    )
    .ok_or_else(|| {
        format!(
            "the {kh}×{kw} kernel does not fit the input {:?} with its padding",
            x.shape
        )
    })?;
    let out = c.out_shape(conv.out_chw);
    checked_numel(&out)?;
    Ok(b.push(cx.name, Op::Conv(conv), x, out))
}

/// `ConvTranspose`: 2-D, or 1-D as height 1; weight `[C, O/group, kh, kw]`; any `group`;
/// explicit `pads` (or `auto_pad` VALID), `output_padding`, and `output_shape` when it is the
/// size those give. Each spatial output size is
/// `s·(n − 1) + output_padding + (k − 1)·d + 1 − pad_begin − pad_end`.
pub(super) fn conv_transpose(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    let c = common(cx)?;
    let (ci, co_g, kh, kw) = c.weight.dim();
    let auto_pad = c.auto_pad.as_str();
    if !matches!(auto_pad, "" | "NOTSET" | "VALID") {
        return Err(format!(
            "auto_pad={auto_pad} is not supported on ConvTranspose (give explicit pads)"
        ));
    }
    if ci != c.in_chw[0] || ci % c.groups != 0 {
        return Err(format!(
            "the weight {:?} with group={} does not fit the input {:?} ({} channels)",
            c.weight.dim(),
            c.groups,
            c.x.shape,
            c.in_chw[0]
        ));
    }
    let pads = match auto_pad {
        "VALID" => [0; 4],
        _ => c.pads.unwrap_or([0; 4]),
    };
    let out_pad = match (c.one_d, cx.attrs.ints("output_padding")) {
        (_, None) => [0, 0],
        (true, Some(&[p])) if (0..MAX_GEOMETRY).contains(&p) => [0, p as usize],
        (false, Some(&[h, w]))
            if (0..MAX_GEOMETRY).contains(&h) && (0..MAX_GEOMETRY).contains(&w) =>
        {
            [h as usize, w as usize]
        }
        (_, Some(p)) => {
            return Err(format!(
                "output_padding {p:?} is not supported (one value ≥ 0 per axis)"
            ))
        }
    };
    if (0..2).any(|a| out_pad[a] >= c.stride[a].max(c.dilation[a])) {
        return Err(format!(
            "output_padding {out_pad:?} must be below the stride or the dilation"
        ));
    }
    let size = |a: usize, n: usize, k: usize| {
        let full = c.stride[a] * (n - 1) + out_pad[a] + (k - 1) * c.dilation[a] + 1;
        full.checked_sub(pads[a] + pads[a + 2]).filter(|&s| s > 0)
    };
    let (Some(oh), Some(ow)) = (size(0, c.in_chw[1], kh), size(1, c.in_chw[2], kw)) else {
        return Err(format!(
            "the pads {pads:?} crop away the whole output of the {kh}×{kw} kernel on {:?}",
            c.x.shape
        ));
    };
    if let Some(os) = cx.attrs.ints("output_shape") {
        let want: Vec<i64> = if c.one_d {
            vec![ow as i64]
        } else {
            vec![oh as i64, ow as i64]
        };
        if os != want.as_slice() {
            return Err(format!(
                "output_shape {os:?} differs from the size {want:?} the pads and output_padding \
                 give (only that size is supported)"
            ));
        }
    }
    let bias = bias(cx, co_g * c.groups)?;
    let conv = Conv2d::transposed(
        c.weight.clone(),
        bias,
        c.stride,
        pads,
        c.dilation,
        c.in_chw,
        [oh, ow],
        c.groups,
    )
    .ok_or_else(|| format!("the weight {:?} does not fit", c.weight.dim()))?;
    let out = c.out_shape(conv.out_chw);
    checked_numel(&out)?;
    Ok(b.push(cx.name, Op::Conv(conv), c.x, out))
}
