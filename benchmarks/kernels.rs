//! Criterion micro-benchmarks of the hot kernels on a fixed random 5-50x6-5 ReLU network
//! (ACAS Xu's shape) and box, and of the convolution's transpose over 128 rows (oval21
//! cifar_base's second layer: 8 -> 16 channels, 4x4, stride 2, padding 1, on 16x16) batched
//! (`ConvRows`) against the per-row tap loop, with no data from outside the repository:
//! `cargo bench --bench kernels`.

use certus::attack::Rng;
use certus::bounds::dual::{DualNetwork, Slopes};
use certus::bounds::interval::Interval;
use certus::bounds::plus_minus_identity;
use certus::deadline::Deadline;
use certus::ir::{Affine, Conv2d, ConvRows, Network, Node, NodeId, Op};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array1, Array2, Array4};
use std::hint::black_box;

fn acas_like() -> Network {
    let mut rng = Rng::new(1);
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![5],
    }];
    let sizes = [5, 50, 50, 50, 50, 50, 50, 5];
    for k in 0..7 {
        let (i, o) = (sizes[k], sizes[k + 1]);
        let scale = (2.0 / i as f64).sqrt();
        let weight = Array2::from_shape_fn((o, i), |_| (rng.uniform() * 2.0 - 1.0) * scale);
        let bias = Array1::from_shape_fn(o, |_| rng.uniform() * 0.2 - 0.1);
        let inputs = vec![NodeId(nodes.len() - 1)];
        nodes.push(Node {
            name: format!("fc{k}"),
            op: Op::Affine(Affine { weight, bias }),
            inputs,
            shape: vec![o],
        });
        if k < 6 {
            let inputs = vec![NodeId(nodes.len() - 1)];
            nodes.push(Node {
                name: format!("relu{k}"),
                op: Op::Relu,
                inputs,
                shape: vec![o],
            });
        }
    }
    Network::new(nodes).expect("valid network")
}

fn kernels(c: &mut Criterion) {
    let net = acas_like();
    let (lo, hi) = (vec![-0.1; 5], vec![0.1; 5]);
    let x = vec![0.05; 5];
    c.bench_function("eval_f64", |b| b.iter(|| net.eval_f64(black_box(&x))));
    c.bench_function("eval_f32", |b| b.iter(|| net.eval_f32(black_box(&x))));
    let ibp = Interval::new(&net);
    c.bench_function("interval", |b| {
        b.iter(|| ibp.output(black_box(&lo), black_box(&hi)))
    });
    let dn = DualNetwork::new(&net);
    c.bench_function("dual_all_bounds_crown", |b| {
        b.iter(|| {
            dn.all_bounds(
                black_box(&lo),
                black_box(&hi),
                Slopes::Adaptive,
                Deadline::NONE,
            )
        })
    });
    let all = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
    c.bench_function("dual_output_pass", |b| {
        b.iter(|| dn.output_lower(black_box(&all), &plus_minus_identity(5), Slopes::Adaptive))
    });
    let mut rng = Rng::new(2);
    let w = Array4::from_shape_fn((16, 8, 4, 4), |_| rng.uniform() - 0.5);
    let cv = Conv2d::new(w, Array1::zeros(16), [2, 2], [1; 4], [1, 1], [8, 16, 16]).unwrap();
    let lam = Array2::from_shape_fn((128, cv.out_len()), |_| rng.uniform() - 0.5);
    let rows = ConvRows::new(&cv).unwrap();
    c.bench_function("conv_transpose_128_rows_batched", |b| {
        b.iter(|| rows.transpose_rows(black_box(lam.view())))
    });
    c.bench_function("conv_transpose_128_rows_tap_loop", |b| {
        b.iter(|| {
            lam.rows()
                .into_iter()
                .map(|r| {
                    let mut x = vec![0.0; cv.in_len()];
                    cv.for_each_tap(|o, i, w| x[i] += w * r[o]);
                    x
                })
                .collect::<Vec<_>>()
        })
    });
}

criterion_group!(benches, kernels);
criterion_main!(benches);
