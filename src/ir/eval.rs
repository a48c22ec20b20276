//! Concrete evaluation: f64 (the reference semantics engines reason about) and f32 (what
//! onnxruntime computes, used to replay counterexamples the way the VNN-COMP scorer does).

use super::{Network, Node, Op};
use ndarray::{ArrayView1, CowArray, Ix1, Ix2};

/// The two float types we evaluate in.
pub trait Scalar:
    ndarray::LinalgScalar + PartialOrd + std::fmt::Debug + Send + Sync + 'static
{
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `e^x` (libm).
    fn exp(self) -> Self;
    /// `tanh(x)` (libm).
    fn tanh(self) -> Self;
    /// A matrix of f64 weights in this type: borrowed for f64, rounded copies for f32.
    fn cast2(a: &ndarray::Array2<f64>) -> CowArray<'_, Self, Ix2>;
    /// A vector of f64 weights in this type.
    fn cast1(a: &ndarray::Array1<f64>) -> CowArray<'_, Self, Ix1>;

    /// The logistic sigmoid `1 / (1 + e^-x)`: the one definition every engine evaluates (the
    /// IR's semantics, the relaxations' lines, gradients, constant folding).
    fn sigmoid(self) -> Self {
        Self::one() / (Self::one() + (Self::zero() - self).exp())
    }

    /// `σ'(x) = σ(x)·(1 − σ(x))`.
    fn sigmoid_derivative(self) -> Self {
        let s = self.sigmoid();
        s * (Self::one() - s)
    }

    /// `tanh'(x) = 1 − tanh(x)²`.
    fn tanh_derivative(self) -> Self {
        let t = Scalar::tanh(self);
        Self::one() - t * t
    }
}

impl Scalar for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn cast2(a: &ndarray::Array2<f64>) -> CowArray<'_, f64, Ix2> {
        a.view().into()
    }
    fn cast1(a: &ndarray::Array1<f64>) -> CowArray<'_, f64, Ix1> {
        a.view().into()
    }
}

impl Scalar for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn cast2(a: &ndarray::Array2<f64>) -> CowArray<'_, f32, Ix2> {
        a.mapv(|v| v as f32).into()
    }
    fn cast1(a: &ndarray::Array1<f64>) -> CowArray<'_, f32, Ix1> {
        a.mapv(|v| v as f32).into()
    }
}

impl Network {
    /// The value of every node for input `x` (flattened row-major), in the arithmetic of `T`.
    /// Panics if `x` has the wrong length: callers check lengths at the boundary.
    pub fn eval_all<T: Scalar>(&self, x: &[T]) -> Vec<Vec<T>> {
        assert_eq!(x.len(), self.input_len(), "input length");
        let mut vals: Vec<Vec<T>> = Vec::with_capacity(self.nodes.len());
        vals.push(x.to_vec());
        for node in &self.nodes[1..] {
            let v = apply(node, &vals);
            vals.push(v);
        }
        vals
    }

    /// The network output for input `x`, in the arithmetic of `T`.
    pub fn eval<T: Scalar>(&self, x: &[T]) -> Vec<T> {
        self.eval_all(x).pop().expect("a network has nodes")
    }

    /// The output in f64.
    pub fn eval_f64(&self, x: &[f64]) -> Vec<f64> {
        self.eval(x)
    }

    /// The output in f32 (the input rounded to f32 first), as onnxruntime would compute it.
    pub fn eval_f32(&self, x: &[f64]) -> Vec<f32> {
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        self.eval(&x32)
    }
}

/// One node's op applied to the values `vals` of the nodes before it.
fn apply<T: Scalar>(node: &Node, vals: &[Vec<T>]) -> Vec<T> {
    let x = || vals[node.input().0].as_slice();
    match &node.op {
        Op::Input => unreachable!("only node 0 is an input"),
        Op::Affine(a) => {
            let w = T::cast2(&a.weight);
            let b = T::cast1(&a.bias);
            let y = w.dot(&ArrayView1::from(x())) + &b;
            y.to_vec()
        }
        Op::Conv(c) => c.forward(x()),
        Op::ScaleShift(s) => x()
            .iter()
            .zip(s.scale.iter().zip(&s.shift))
            .map(|(&v, (&a, &b))| v * T::from_f64(a) + T::from_f64(b))
            .collect(),
        Op::Reshape => x().to_vec(),
        Op::Relu => x()
            .iter()
            .map(|&v| if v > T::zero() { v } else { T::zero() })
            .collect(),
        Op::Sigmoid => x().iter().map(|&v| v.sigmoid()).collect(),
        Op::Tanh => x().iter().map(|&v| Scalar::tanh(v)).collect(),
        Op::Sign => x().iter().map(|&v| super::sign(v)).collect(),
        Op::Square => x().iter().map(|&v| v * v).collect(),
        Op::Mul => {
            let (a, b) = (&vals[node.inputs[0].0], &vals[node.inputs[1].0]);
            a.iter().zip(b).map(|(&a, &b)| a * b).collect()
        }
        // As onnxruntime: per group, subtract the maximum, exponentiate, divide by the sum
        // (summed in axis order).
        Op::Softmax(sm) => {
            let x = x();
            let mut y = vec![T::zero(); x.len()];
            for group in sm.groups(x.len()) {
                let max = group
                    .iter()
                    .map(|&e| x[e])
                    .fold(x[group[0]], |m, v| if v > m { v } else { m });
                let mut sum = T::zero();
                for &e in &group {
                    y[e] = (x[e] - max).exp();
                    sum = sum + y[e];
                }
                group.iter().for_each(|&e| y[e] = y[e] / sum);
            }
            y
        }
        // Summed in input order, one rounding per addition (onnxruntime's binary `Add`).
        Op::Add => {
            let mut y = vals[node.inputs[0].0].clone();
            for &j in &node.inputs[1..] {
                y.iter_mut().zip(&vals[j.0]).for_each(|(a, &b)| *a = *a + b);
            }
            y
        }
        Op::Concat => node
            .inputs
            .iter()
            .flat_map(|&j| vals[j.0].iter().copied())
            .collect(),
        Op::Gather { index } => {
            let x = x();
            index.iter().map(|&e| x[e]).collect()
        }
    }
}
