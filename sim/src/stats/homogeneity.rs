//! Per-connection balancing: does every client connection spread its
//! requests over the endpoints (or versions) as expected, or are some
//! connections pinned?
//!
//! Aggregate counts cannot see pinning: 4 connections pinned to 4 different
//! endpoints give a perfectly uniform aggregate. So the bench tabulates
//! requests by (connection, endpoint), an r×c [`ContingencyTable`], and runs
//! two tests on it, splitting the assertion's alpha in half between them:
//!
//! 1. **Independence** ([`independence`]): null hypothesis "every row (connection)
//!    has the same distribution over columns (endpoints)", whatever that
//!    distribution is; a *sample* is one request, and the test is conditional
//!    on the row and column totals. Pearson chi-square or G with
//!    (r − 1)(c − 1) degrees of freedom, asymptotic when every expected cell
//!    count is ≥ 5, otherwise Monte Carlo over tables with the same margins
//!    (same rule and caveat as [`super::multinomial::MonteCarlo`]). This
//!    catches partial stickiness (each connection prefers its own endpoint
//!    by a few points) by pooling all rows. Caveat: at alpha/2 = 5e-7 the
//!    chi-square tail is an approximation whose relative error grows in the
//!    far tail, so this half's false-failure rate is approximately, not
//!    provably, alpha/2 (the calibration tests check it at alpha 0.05; for a
//!    2 × 2 table with 20 to 2 000 requests per row, summing the exact
//!    hypergeometric distribution gives a true size between 0.5e-7 and
//!    6.3e-7 at the nominal 5e-7); the row fits below are exact.
//! 2. **Per-row fit** ([`row_fits`]): for each connection, null hypothesis
//!    "this connection's requests fall on column j with probability p_j, the
//!    expected share". The row's p-value is the smallest exact two-sided
//!    binomial p-value over its columns, times the number of columns that
//!    carry chance (Bonferroni within the row; 1 for two columns, whose two
//!    tests are one), and the rows are corrected with Holm. This is exact at
//!    any n, and it names the connection: "connection 3: 40/40 requests to
//!    v1 (100%), expected 50%". A fully pinned connection on one of two
//!    endpoints is caught after ~24 requests at alpha 1e-6 with 4 connections
//!    (see [`super::plan::pinning`]).
//!
//! The assertion fails when either test rejects at alpha/2 ([`homogeneity`]).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Hypergeometric};
use serde::Serialize;

use super::binomial::two_sided_raw;
use super::multinomial::{
    Gof, GofStatistic, MIN_EXPECTED, MonteCarlo, PValueMethod, at_least, chi_square_sf,
};
use super::multiple::holm;
use super::types::{Alpha, StatsError, normalise, percent};

/// Counts of samples by row (client connection) and column (endpoint or
/// version), with labels for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContingencyTable {
    rows: Vec<String>,
    columns: Vec<String>,
    counts: Vec<Vec<u64>>,
}

impl ContingencyTable {
    /// A table with one label per row and per column and `counts[row][column]`.
    ///
    /// # Errors
    /// When the labels and the counts disagree in shape.
    pub fn new(
        rows: Vec<String>,
        columns: Vec<String>,
        counts: Vec<Vec<u64>>,
    ) -> Result<Self, StatsError> {
        if counts.len() != rows.len() {
            return Err(StatsError::Shape(format!(
                "{} row labels but {} rows of counts",
                rows.len(),
                counts.len()
            )));
        }
        if let Some((i, row)) = counts
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != columns.len())
        {
            return Err(StatsError::Shape(format!(
                "row {} ({}) has {} counts but there are {} columns",
                i,
                rows[i],
                row.len(),
                columns.len()
            )));
        }
        Ok(ContingencyTable {
            rows,
            columns,
            counts,
        })
    }

    /// A table labelled `connection 0..` and `endpoint 0..`, for tests and
    /// simulations.
    ///
    /// # Errors
    /// When the rows have different lengths.
    pub fn unlabelled(counts: Vec<Vec<u64>>) -> Result<Self, StatsError> {
        let c = counts.first().map_or(0, Vec::len);
        let rows = (0..counts.len())
            .map(|i| format!("connection {i}"))
            .collect();
        let columns = (0..c).map(|j| format!("endpoint {j}")).collect();
        Self::new(rows, columns, counts)
    }

    /// The row labels.
    pub fn rows(&self) -> &[String] {
        &self.rows
    }

    /// The column labels.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The counts, `[row][column]`.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Samples per row.
    pub fn row_totals(&self) -> Vec<u64> {
        self.counts.iter().map(|r| r.iter().sum()).collect()
    }

    /// Samples per column.
    pub fn column_totals(&self) -> Vec<u64> {
        let mut t = vec![0u64; self.columns.len()];
        for row in &self.counts {
            for (j, &x) in row.iter().enumerate() {
                t[j] += x;
            }
        }
        t
    }

    /// All samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

/// The chi-square (or G) test of independence of rows and columns; see the
/// module docs. Rows and columns without samples are left out (they carry
/// no information about the others). The result's `zero_probability_hits`
/// is always empty.
pub fn independence(table: &ContingencyTable, kind: GofStatistic, mc: &MonteCarlo) -> Gof {
    let rt = table.row_totals();
    let ct = table.column_totals();
    let rows: Vec<usize> = (0..rt.len()).filter(|&i| rt[i] > 0).collect();
    let cols: Vec<usize> = (0..ct.len()).filter(|&j| ct[j] > 0).collect();
    let r_tot: Vec<u64> = rows.iter().map(|&i| rt[i]).collect();
    let c_tot: Vec<u64> = cols.iter().map(|&j| ct[j]).collect();
    let n: u64 = r_tot.iter().sum();
    let flat: Vec<u64> = rows
        .iter()
        .flat_map(|&i| cols.iter().map(move |&j| (i, j)))
        .map(|(i, j)| table.counts[i][j])
        .collect();
    let expected = expected_cells(&r_tot, &c_tot, n);
    let df = (rows.len().saturating_sub(1) * cols.len().saturating_sub(1)) as u64;
    let statistic = super::multinomial::statistic(kind, &flat, &expected);
    let min_expected = expected.iter().copied().fold(f64::INFINITY, f64::min);
    let mut gof = Gof {
        kind,
        statistic,
        df,
        p_value: 1.0,
        method: PValueMethod::Trivial,
        resolution: 0.0,
        min_expected: if min_expected.is_finite() {
            min_expected
        } else {
            0.0
        },
        zero_probability_hits: Vec::new(),
    };
    if df == 0 {
        return gof;
    }
    if min_expected >= MIN_EXPECTED {
        gof.p_value = chi_square_sf(statistic, df);
        gof.method = PValueMethod::Asymptotic;
        return gof;
    }
    let mut rng = StdRng::seed_from_u64(mc.seed);
    let mut sample = vec![0u64; flat.len()];
    let mut extreme = 0u64;
    for _ in 0..mc.draws {
        draw_table(&mut rng, &r_tot, &c_tot, &mut sample);
        if at_least(
            super::multinomial::statistic(kind, &sample, &expected),
            statistic,
        ) {
            extreme += 1;
        }
    }
    gof.p_value = (1.0 + extreme as f64) / (1.0 + mc.draws as f64);
    gof.method = PValueMethod::MonteCarlo {
        draws: mc.draws,
        seed: mc.seed,
    };
    gof.resolution = 1.0 / (mc.draws as f64 + 1.0);
    gof
}

fn expected_cells(r_tot: &[u64], c_tot: &[u64], n: u64) -> Vec<f64> {
    let nf = n as f64;
    r_tot
        .iter()
        .flat_map(|&r| c_tot.iter().map(move |&c| r as f64 * c as f64 / nf))
        .collect()
}

/// A random table with the given margins, uniformly over the arrangements of
/// the samples (the permutation distribution under independence), drawn row
/// by row as a chain of hypergeometric draws (O(r·c) per table).
fn draw_table(rng: &mut StdRng, r_tot: &[u64], c_tot: &[u64], out: &mut [u64]) {
    let c = c_tot.len();
    let mut col_left = c_tot.to_vec();
    let mut total_left: u64 = col_left.iter().sum();
    for (i, &r) in r_tot.iter().enumerate() {
        let mut row_left = r.min(total_left);
        let mut pool = total_left;
        for j in 0..c {
            let x = if j + 1 == c {
                row_left.min(col_left[j])
            } else if row_left == 0 || col_left[j] == 0 {
                0
            } else {
                match Hypergeometric::new(pool, col_left[j], row_left) {
                    Ok(d) => d.sample(rng),
                    Err(_) => 0,
                }
            };
            pool -= col_left[j];
            out[i * c + j] = x;
            col_left[j] -= x;
            row_left -= x;
        }
        total_left -= r.min(total_left);
    }
}

/// One connection's exact fit to the expected shares, within [`row_fits`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowFit {
    /// The row's index.
    pub row: usize,
    /// The row's label (the connection).
    pub label: String,
    /// Samples on this row.
    pub n: u64,
    /// The column that deviates most (smallest p-value).
    pub worst_column: usize,
    /// Its label.
    pub worst_label: String,
    /// Its count on this row.
    pub worst_count: u64,
    /// Its expected share.
    pub worst_expected: f64,
    /// The row's p-value (Bonferroni over the row's columns; 0 for a sample in
    /// a column with expected share 0).
    pub p_value: f64,
    /// After Holm's correction over the rows.
    pub adjusted: f64,
    /// Rejected at the alpha given to [`row_fits`].
    pub rejected: bool,
}

impl RowFit {
    /// A sentence for reports: "connection 3: 40/40 requests to v1 (100%),
    /// expected 50% (p = 1.8e-12)".
    pub fn describe(&self) -> String {
        let share = if self.n == 0 {
            0.0
        } else {
            self.worst_count as f64 / self.n as f64
        };
        format!(
            "{}: {}/{} requests to {} ({}), expected {} (p = {})",
            self.label,
            self.worst_count,
            self.n,
            self.worst_label,
            percent(share),
            percent(self.worst_expected),
            super::types::short(self.adjusted),
        )
    }
}

/// The p-value of one row against expected shares (already normalised), and
/// the index of the most deviant column. See the module docs.
pub(crate) fn row_p_value(counts: &[u64], shares: &[f64]) -> (f64, usize) {
    let n: u64 = counts.iter().sum();
    let mut worst = (1.0_f64, 0usize);
    let mut random = 0usize;
    for (j, (&x, &s)) in counts.iter().zip(shares).enumerate() {
        let p = if s == 0.0 {
            if x > 0 { 0.0 } else { 1.0 }
        } else {
            if s < 1.0 {
                random += 1;
            }
            two_sided_raw(x, n, s)
        };
        if p < worst.0 {
            worst = (p, j);
        }
    }
    let family = if random == 2 { 1 } else { random.max(1) };
    ((worst.0 * family as f64).min(1.0), worst.1)
}

/// Exact per-row fits against expected column shares (weights are
/// normalised), Holm-corrected over the rows at `alpha`.
///
/// # Errors
/// When `expected` does not have one weight per column, or the weights are
/// invalid.
pub fn row_fits(
    table: &ContingencyTable,
    expected: &[f64],
    alpha: Alpha,
) -> Result<Vec<RowFit>, StatsError> {
    if expected.len() != table.columns.len() {
        return Err(StatsError::Shape(format!(
            "{} expected shares but {} columns",
            expected.len(),
            table.columns.len()
        )));
    }
    let shares = normalise(expected)?;
    let raw: Vec<(f64, usize)> = table
        .counts
        .iter()
        .map(|r| row_p_value(r, &shares))
        .collect();
    let h = holm(&raw.iter().map(|r| r.0).collect::<Vec<_>>(), alpha);
    Ok(table
        .counts
        .iter()
        .enumerate()
        .map(|(i, counts)| {
            let (p_value, j) = raw[i];
            RowFit {
                row: i,
                label: table.rows[i].clone(),
                n: counts.iter().sum(),
                worst_column: j,
                worst_label: table.columns.get(j).cloned().unwrap_or_default(),
                worst_count: counts.get(j).copied().unwrap_or(0),
                worst_expected: shares.get(j).copied().unwrap_or(0.0),
                p_value,
                adjusted: h.adjusted[i],
                rejected: h.rejected[i],
            }
        })
        .collect())
}

/// The outcome of [`homogeneity`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Homogeneity {
    /// The assertion's alpha.
    pub alpha: f64,
    /// The independence test, judged at alpha/2.
    pub independence: Gof,
    /// The per-row fits, Holm-corrected at alpha/2.
    pub rows: Vec<RowFit>,
}

impl Homogeneity {
    /// True when the independence test rejects at alpha/2.
    pub fn independence_rejected(&self) -> bool {
        self.independence.p_value <= self.alpha / 2.0
    }

    /// The rows (connections) that fail their fit.
    pub fn failed_rows(&self) -> Vec<&RowFit> {
        self.rows.iter().filter(|r| r.rejected).collect()
    }

    /// True when the assertion fails: either test rejects.
    pub fn rejected(&self) -> bool {
        self.independence_rejected() || self.rows.iter().any(|r| r.rejected)
    }

    /// The assertion's p-value: twice the smaller of the two parts' p-values
    /// (Bonferroni over the two tests), capped at 1.
    pub fn p_value(&self) -> f64 {
        let rows = self.rows.iter().map(|r| r.adjusted).fold(1.0, f64::min);
        (2.0 * rows.min(self.independence.p_value)).min(1.0)
    }
}

/// Both tests of the module docs, alpha split in half between them.
///
/// # Errors
/// As [`row_fits`].
pub fn homogeneity(
    table: &ContingencyTable,
    expected: &[f64],
    alpha: Alpha,
    kind: GofStatistic,
    mc: &MonteCarlo,
) -> Result<Homogeneity, StatsError> {
    let rows = row_fits(table, expected, alpha.split(2))?;
    Ok(Homogeneity {
        alpha: alpha.get(),
        independence: independence(table, kind, mc),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_connections_one_pinned_is_caught_at_1e6() {
        // 4 connections x 40 requests on 2 endpoints; connection 2 pinned to endpoint 0.
        let table = ContingencyTable::new(
            (0..4).map(|i| format!("connection {i}")).collect(),
            vec!["v1".into(), "v2".into()],
            vec![vec![19, 21], vec![22, 18], vec![40, 0], vec![20, 20]],
        )
        .expect("test input");
        let h = homogeneity(
            &table,
            &[1.0, 1.0],
            Alpha::DEFAULT,
            GofStatistic::Pearson,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert!(h.rejected());
        let failed = h.failed_rows();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].row, 2);
        let text = failed[0].describe();
        assert!(
            text.starts_with("connection 2: 40/40 requests to v1 (100%), expected 50%"),
            "{text}"
        );
        // p = 2 * 2^-40 per row, times 4 rows (Holm's first step).
        assert!((failed[0].adjusted / (4.0 * 2.0 * 0.5f64.powi(40)) - 1.0).abs() < 1e-9);
        // The independence test sees it too, but pooled over 160 requests it is only
        // borderline at alpha/2 = 5e-7 (p = 6.2e-7): the exact row fit is what names it.
        assert_eq!(h.independence.df, 3);
        assert!(h.independence.p_value < 1e-6, "{:?}", h.independence);
    }

    #[test]
    fn pinned_connections_with_a_uniform_aggregate() {
        // 4 connections pinned to 4 endpoints: the aggregate is perfectly uniform.
        let counts = (0..4)
            .map(|i| (0..4).map(|j| if i == j { 25 } else { 0 }).collect())
            .collect();
        let table = ContingencyTable::unlabelled(counts).expect("test input");
        assert_eq!(table.column_totals(), vec![25; 4]);
        let h = homogeneity(
            &table,
            &[1.0; 4],
            Alpha::DEFAULT,
            GofStatistic::Pearson,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert_eq!(h.failed_rows().len(), 4);
        // Full pinning: X² = n (min(C, N) - 1) = 300.
        assert!((h.independence.statistic - 300.0).abs() < 1e-9);
    }

    #[test]
    fn balanced_table_passes() {
        let table = ContingencyTable::unlabelled(vec![vec![50, 52, 48], vec![49, 51, 50]])
            .expect("test input");
        let h = homogeneity(
            &table,
            &[1.0; 3],
            Alpha::DEFAULT,
            GofStatistic::G,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert!(!h.rejected());
        assert!(h.p_value() > 0.5);
        assert_eq!(h.independence.method, PValueMethod::Asymptotic);
    }

    #[test]
    fn margins_are_kept_by_the_table_sampler() {
        let mut rng = StdRng::seed_from_u64(1);
        let (r, c) = (vec![3u64, 0, 10, 7], vec![5u64, 1, 14]);
        let mut out = vec![0u64; 12];
        for _ in 0..200 {
            draw_table(&mut rng, &r, &c, &mut out);
            for i in 0..4 {
                assert_eq!(out[i * 3..i * 3 + 3].iter().sum::<u64>(), r[i]);
            }
            for j in 0..3 {
                assert_eq!((0..4).map(|i| out[i * 3 + j]).sum::<u64>(), c[j]);
            }
        }
    }

    #[test]
    fn small_tables_use_monte_carlo_and_shapes_are_checked() {
        let table = ContingencyTable::unlabelled(vec![vec![3, 1], vec![0, 4]]).expect("test input");
        let g = independence(
            &table,
            GofStatistic::Pearson,
            &MonteCarlo {
                draws: 2_000,
                seed: 3,
            },
        );
        assert!(matches!(g.method, PValueMethod::MonteCarlo { .. }));
        // Fisher's exact two-sided p for [[3,1],[0,4]] is 0.1429; the Pearson
        // permutation p-value is the same here (the tables as extreme are the same two).
        assert!((g.p_value - 0.1429).abs() < 0.03, "{}", g.p_value);
        assert!(ContingencyTable::unlabelled(vec![vec![1, 2], vec![3]]).is_err());
        assert!(row_fits(&table, &[1.0], Alpha::DEFAULT).is_err());
    }
}
