//! Networks built from the bytes (every core op, weights from tame to extreme f32 values) are
//! evaluated in f32 and f64 on points of a box, and the f64 values must lie inside the interval,
//! dual and crown bounds of that box, with no tolerance: soundness by fuzzing.
#![no_main]

use certus::bounds::{output_bounds, Method};
use certus::ir::{Affine, Conv2d, Network, Node, NodeId, Op, ScaleShift};
use libfuzzer_sys::fuzz_target;
use ndarray::{Array1, Array2, Array4};

/// Reads the fuzzer's bytes as small choices; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }
    /// A finite f32 value: mostly small dyadic numbers, sometimes huge, tiny or raw bits.
    fn value(&mut self) -> f64 {
        let b = self.byte();
        let v = match b % 8 {
            0..=3 => (self.byte() as i8) as f64 / 16.0,
            4 => f32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]) as f64,
            5 => [1e30, -1e30, 1e-30, 3.4e38, -1e-38, 1e-45, 65504.0, 0.1][self.below(8)],
            6 => (self.byte() as i8) as f64 * 1e4,
            _ => (self.byte() as i8) as f64 * 1e-4,
        };
        if v.is_finite() {
            v as f32 as f64
        } else {
            0.0
        }
    }
}

fn build(b: &mut Bytes) -> Option<Network> {
    let n_in = 1 + b.below(4);
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![n_in],
    }];
    let len = |nodes: &[Node], i: usize| nodes[i].shape.iter().product::<usize>();
    for k in 0..1 + b.below(8) {
        let cur = nodes.len() - 1;
        let n = len(&nodes, cur);
        let name = format!("n{k}");
        let (op, inputs, shape) = match b.below(9) {
            1 => (Op::Relu, vec![cur], vec![n]),
            2 => (Op::Sigmoid, vec![cur], vec![n]),
            3 => (Op::Tanh, vec![cur], vec![n]),
            4 => {
                let scale = Array1::from_shape_fn(n, |_| b.value());
                let shift = Array1::from_shape_fn(n, |_| b.value());
                (Op::ScaleShift(ScaleShift { scale, shift }), vec![cur], vec![n])
            }
            5 => {
                let other = b.below(nodes.len());
                if len(&nodes, other) != n {
                    continue;
                }
                (Op::Add, vec![cur, other], vec![n])
            }
            6 => {
                let other = b.below(nodes.len());
                (Op::Concat, vec![other, cur], vec![n + len(&nodes, other)])
            }
            7 => {
                let index: Vec<usize> = (0..1 + b.below(6)).map(|_| b.below(n)).collect();
                let m = index.len();
                (Op::Gather { index }, vec![cur], vec![m])
            }
            8 => {
                let co = 1 + b.below(2);
                let kw = 1 + b.below(n.min(3));
                let weight = Array4::from_shape_fn((co, 1, 1, kw), |_| b.value());
                let bias = Array1::from_shape_fn(co, |_| b.value());
                let stride = [1, 1 + b.below(2)];
                let pads = [0, b.below(2), 0, b.below(2)];
                let conv = Conv2d::new(weight, bias, stride, pads, [1, 1], [1, 1, n])?;
                nodes.push(Node {
                    name: format!("{name}r"),
                    op: Op::Reshape,
                    inputs: vec![NodeId(cur)],
                    shape: vec![1, 1, n],
                });
                let shape = conv.out_chw.to_vec();
                (Op::Conv(conv), vec![cur + 1], shape)
            }
            _ => {
                let out = 1 + b.below(5);
                let weight = Array2::from_shape_fn((out, n), |_| b.value());
                let bias = Array1::from_shape_fn(out, |_| b.value());
                (Op::Affine(Affine { weight, bias }), vec![cur], vec![out])
            }
        };
        let inputs = inputs.into_iter().map(NodeId).collect();
        nodes.push(Node {
            name,
            op,
            inputs,
            shape,
        });
    }
    Network::new(nodes).ok()
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let Some(net) = build(&mut b) else {
        return;
    };
    let n = net.input_len();
    let centre: Vec<f64> = (0..n).map(|_| b.value()).collect();
    let radius = [0.0, 1e-9, 1e-3, 0.5, 1.0, 100.0][b.below(6)];
    let lo: Vec<f64> = centre.iter().map(|c| c - radius).collect();
    let hi: Vec<f64> = centre.iter().map(|c| c + radius).collect();
    // The centre, every corner and a few points from the bytes.
    let mut points = vec![centre.clone()];
    for mask in 0..1usize << n {
        points.push((0..n).map(|i| if mask >> i & 1 == 1 { hi[i] } else { lo[i] }).collect());
    }
    for _ in 0..4 {
        // `lo + (hi − lo)·t` may round past `hi`: clamp into the box.
        let t: Vec<f64> = (0..n).map(|_| b.byte() as f64 / 255.0).collect();
        points.push((0..n).map(|i| (lo[i] + (hi[i] - lo[i]) * t[i]).clamp(lo[i], hi[i])).collect());
    }
    let ys: Vec<(Vec<f64>, &Vec<f64>)> = points
        .iter()
        .map(|x| {
            let _ = net.eval_f32(x);
            (net.eval_f64(x), x)
        })
        .filter(|(y, _)| y.iter().all(|v| v.is_finite()))
        .collect();
    for method in [Method::Interval, Method::Dual, Method::Crown] {
        let bounds = output_bounds(&net, &lo, &hi, method);
        for (y, x) in &ys {
            assert!(bounds.contains(y), "{method:?}: {y:?} at {x:?} not in {bounds:?}\n{net:?}");
        }
    }
});
