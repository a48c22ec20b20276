//! The domain store: struct of arrays, so that a batch of domains is a few flat vectors and a
//! batch's boxes are a `B × n₀` matrix. A domain is a box, the subproblem it belongs to with
//! the mask of its disjuncts still open, its best lower bound per row of that subproblem
//! (`−inf` for rows it does not have) and its depth; about `16·n₀ + 8·R + 16` bytes (ACAS Xu:
//! 128 to 160), so millions fit.

use ndarray::ArrayView2;

/// Domains, last in first out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    /// Inputs per domain.
    pub n0: usize,
    /// Rows per domain (the largest row count of any subproblem).
    pub rows: usize,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub sub: Vec<u32>,
    /// Bit `i`: disjunct `i` of the subproblem is still open on this box.
    pub open: Vec<u64>,
    pub lb: Vec<f64>,
    pub depth: Vec<u16>,
    /// The domain's lower bound on the margin `min_disjunct max_row (c·y − rhs)` over its box
    /// (`−inf` before any), for ordering: domains that may come closest to a counterexample
    /// first (a heuristic, never a proof).
    pub score: Vec<f32>,
    /// Values per domain in `pb` (0 when domains carry no intermediate bounds).
    pub pstride: usize,
    /// Per domain, `pstride` f32 bounds of the intermediate layers computed for its parent (or
    /// itself, once bounded), rounded outward: sound for any sub-box, so a child starts from
    /// them (`−inf`/`+inf` when unknown).
    pub pb: Vec<f32>,
}

impl Store {
    /// An empty store for boxes of `n0` inputs and subproblems of at most `rows` rows.
    pub fn new(n0: usize, rows: usize, pstride: usize) -> Self {
        Store {
            n0,
            rows,
            pstride,
            ..Default::default()
        }
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.sub.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sub.is_empty()
    }

    /// Adds a domain.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        lo: &[f64],
        hi: &[f64],
        sub: u32,
        open: u64,
        lb: &[f64],
        depth: u16,
        score: f32,
        pb: &[f32],
    ) {
        debug_assert_eq!(pb.len(), self.pstride);
        self.pb.extend_from_slice(pb);
        debug_assert_eq!(lo.len(), self.n0);
        debug_assert_eq!(lb.len(), self.rows);
        self.lo.extend_from_slice(lo);
        self.hi.extend_from_slice(hi);
        self.sub.push(sub);
        self.open.push(open);
        self.lb.extend_from_slice(lb);
        self.depth.push(depth);
        self.score.push(score);
    }

    /// Appends every domain of `other` (in order).
    pub fn append(&mut self, other: &mut Store) {
        self.lo.append(&mut other.lo);
        self.hi.append(&mut other.hi);
        self.sub.append(&mut other.sub);
        self.open.append(&mut other.open);
        self.lb.append(&mut other.lb);
        self.depth.append(&mut other.depth);
        self.score.append(&mut other.score);
        self.pb.append(&mut other.pb);
    }

    /// Removes and returns the last `k` domains (fewer if there are fewer), in store order.
    pub fn pop(&mut self, k: usize) -> Store {
        let at = self.len().saturating_sub(k);
        Store {
            n0: self.n0,
            rows: self.rows,
            lo: self.lo.split_off(at * self.n0),
            hi: self.hi.split_off(at * self.n0),
            sub: self.sub.split_off(at),
            open: self.open.split_off(at),
            lb: self.lb.split_off(at * self.rows),
            depth: self.depth.split_off(at),
            score: self.score.split_off(at),
            pstride: self.pstride,
            pb: self.pb.split_off(at * self.pstride),
        }
    }

    /// Splits off the domains from index `at` on.
    pub fn split_off(&mut self, at: usize) -> Store {
        let mut tail = self.pop(self.len() - at.min(self.len()));
        tail.n0 = self.n0;
        tail
    }

    /// Reorders the domains so that the most promising (smallest score) are popped first; ties
    /// keep their order (deterministic).
    pub fn promising_last(&mut self) {
        let mut perm: Vec<usize> = (0..self.len()).collect();
        perm.sort_by(|&a, &b| self.score[b].total_cmp(&self.score[a]).then(a.cmp(&b)));
        let (n0, r) = (self.n0, self.rows);
        let gather = |v: &[f64], w: usize| -> Vec<f64> {
            perm.iter()
                .flat_map(|&d| v[d * w..(d + 1) * w].iter().copied())
                .collect()
        };
        self.lo = gather(&self.lo, n0);
        self.hi = gather(&self.hi, n0);
        self.lb = gather(&self.lb, r);
        self.sub = perm.iter().map(|&d| self.sub[d]).collect();
        self.open = perm.iter().map(|&d| self.open[d]).collect();
        self.depth = perm.iter().map(|&d| self.depth[d]).collect();
        self.score = perm.iter().map(|&d| self.score[d]).collect();
        let p = self.pstride;
        self.pb = perm
            .iter()
            .flat_map(|&d| self.pb[d * p..(d + 1) * p].iter().copied())
            .collect();
    }

    /// The boxes' lower corners as a `len × n₀` matrix.
    pub fn lo_mat(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.len(), self.n0), &self.lo).expect("n₀ per domain")
    }

    /// The boxes' upper corners as a `len × n₀` matrix.
    pub fn hi_mat(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.len(), self.n0), &self.hi).expect("n₀ per domain")
    }

    /// Domain `d`'s box.
    pub fn bx(&self, d: usize) -> (&[f64], &[f64]) {
        let n0 = self.n0;
        (
            &self.lo[d * n0..(d + 1) * n0],
            &self.hi[d * n0..(d + 1) * n0],
        )
    }

    /// Domain `d`'s inherited intermediate bounds.
    pub fn pbs(&self, d: usize) -> &[f32] {
        &self.pb[d * self.pstride..(d + 1) * self.pstride]
    }

    /// Domain `d`'s row bounds.
    pub fn lbs(&self, d: usize) -> &[f64] {
        &self.lb[d * self.rows..(d + 1) * self.rows]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_split() {
        let mut s = Store::new(2, 1, 1);
        for i in 0..5 {
            let v = i as f64;
            s.push(
                &[v, v],
                &[v + 1.0, v + 1.0],
                i,
                1,
                &[-v],
                i as u16,
                -v as f32,
                &[v as f32],
            );
        }
        let top = s.pop(2);
        assert_eq!(top.sub, vec![3, 4]);
        assert_eq!(top.lo, vec![3.0, 3.0, 4.0, 4.0]);
        assert_eq!(s.len(), 3);
        let tail = s.split_off(1);
        assert_eq!((s.sub.clone(), tail.sub.clone()), (vec![0], vec![1, 2]));
        assert_eq!(tail.hi, vec![2.0, 2.0, 3.0, 3.0]);
        assert_eq!(tail.lbs(1), &[-2.0]);
        assert_eq!(s.pop(10).len(), 1);
        assert!(s.is_empty());
        let mut t = tail;
        t.promising_last();
        assert_eq!(
            (t.sub.clone(), t.lb.clone()),
            (vec![1, 2], vec![-1.0, -2.0])
        );
        t.score = vec![-5.0, 0.0];
        t.promising_last();
        assert_eq!(
            (t.sub.clone(), t.lo.clone()),
            (vec![2, 1], vec![2.0, 2.0, 1.0, 1.0])
        );
    }
}
