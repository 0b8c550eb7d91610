//! The tree of a scenario's nodes, checked in time linear in its size: which nodes are on a
//! cycle of `after:` links, and which node's output another can read (its ancestors'). A
//! checker that walked each node's chain of parents took quadratic time (4,000 nodes: 2.3 s),
//! on the request's thread.

/// A node's parent (and the router's route it is on), by index; `None` for a root.
pub type Parents = [Option<(usize, Option<String>)>];

/// Which nodes are on a cycle of `after:` links. Linear: each node is walked once.
pub fn cycles(parents: &Parents) -> Vec<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnPath,
        Done,
    }
    let mut seen = vec![Seen::No; parents.len()];
    let mut in_cycle = vec![false; parents.len()];
    let mut path = Vec::new();
    for start in 0..parents.len() {
        let mut at = start;
        // Walk up until a node already settled, or one on this walk (a cycle).
        loop {
            match seen[at] {
                Seen::Done => break,
                Seen::OnPath => {
                    // The cycle is the part of the path from `at` on.
                    let from = path.iter().position(|&n| n == at).unwrap_or(0);
                    for &n in &path[from..] {
                        in_cycle[n] = true;
                    }
                    break;
                }
                Seen::No => {
                    seen[at] = Seen::OnPath;
                    path.push(at);
                    match &parents[at] {
                        Some((parent, _)) => at = *parent,
                        None => break,
                    }
                }
            }
        }
        for n in path.drain(..) {
            seen[n] = Seen::Done;
        }
    }
    in_cycle
}

/// Who comes before whom in the tree of nodes, answered in constant time: a depth-first walk
/// numbers each node on the way in and out, and a node precedes another when the other's
/// numbers lie within its own. Nodes on or under a cycle are reached by no walk, and precede
/// nothing.
pub struct Ancestry {
    parents: Vec<Option<usize>>,
    enter: Vec<usize>,
    leave: Vec<usize>,
}

impl Ancestry {
    pub fn of(parents: &Parents, in_cycle: &[bool]) -> Ancestry {
        let n = parents.len();
        let parents: Vec<Option<usize>> = parents
            .iter()
            .map(|p| p.as_ref().map(|(p, _)| *p))
            .collect();
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            match parent {
                _ if in_cycle[i] => {}
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        let (mut enter, mut leave) = (vec![usize::MAX; n], vec![0; n]);
        let mut clock = 0;
        let mut stack: Vec<(usize, bool)> = roots.into_iter().rev().map(|r| (r, false)).collect();
        while let Some((node, done)) = stack.pop() {
            clock += 1;
            if done {
                leave[node] = clock;
                continue;
            }
            enter[node] = clock;
            stack.push((node, true));
            stack.extend(children[node].iter().rev().map(|&c| (c, false)));
        }
        Ancestry {
            parents,
            enter,
            leave,
        }
    }

    /// Whether `earlier` is an ancestor of `node` (its output is there when `node` runs).
    pub fn precedes(&self, earlier: usize, node: usize) -> bool {
        earlier != node
            && self.enter[earlier] != usize::MAX
            && self.enter[node] != usize::MAX
            && self.enter[earlier] < self.enter[node]
            && self.leave[node] < self.leave[earlier]
    }

    /// The ancestors of `node`, nearest first (for messages).
    pub fn chain(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let mut at = node;
        std::iter::from_fn(move || {
            let parent = self.parents[at]?;
            self.precedes(parent, node).then(|| {
                at = parent;
                parent
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parents(links: &[Option<usize>]) -> Vec<Option<(usize, Option<String>)>> {
        links.iter().map(|p| p.map(|p| (p, None))).collect()
    }

    #[test]
    fn cycles_are_found_and_only_their_nodes_marked() {
        // 0 <- 1 <- 2; 3 -> 4 -> 5 -> 3 (a cycle); 6 hangs under the cycle.
        let links = parents(&[None, Some(0), Some(1), Some(5), Some(3), Some(4), Some(4)]);
        assert_eq!(
            cycles(&links),
            vec![false, false, false, true, true, true, false]
        );
        assert_eq!(
            cycles(&parents(&[Some(0)])),
            vec![true],
            "a node after itself"
        );
    }

    #[test]
    fn a_node_precedes_exactly_its_descendants() {
        // 0 -> 1 -> 2, 0 -> 3; 4 is another root.
        let links = parents(&[None, Some(0), Some(1), Some(0), None]);
        let tree = Ancestry::of(&links, &cycles(&links));
        assert!(tree.precedes(0, 2) && tree.precedes(1, 2) && tree.precedes(0, 3));
        assert!(!tree.precedes(3, 2), "a sibling's branch");
        assert!(!tree.precedes(2, 1), "a descendant");
        assert!(!tree.precedes(2, 2), "itself");
        assert!(!tree.precedes(4, 1), "another root");
        assert_eq!(tree.chain(2).collect::<Vec<_>>(), vec![1, 0]);
    }

    #[test]
    fn a_long_chain_is_checked_in_linear_time() {
        // 100,000 nodes in one chain: the quadratic walk took minutes; this takes a blink.
        let n: usize = 100_000;
        let links = parents(&(0..n).map(|i| i.checked_sub(1)).collect::<Vec<_>>());
        let in_cycle = cycles(&links);
        assert!(in_cycle.iter().all(|c| !c));
        let tree = Ancestry::of(&links, &in_cycle);
        assert!(tree.precedes(0, n - 1) && !tree.precedes(n - 1, 0));
    }
}
