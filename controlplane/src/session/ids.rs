//! Flow ids: the index of a flow's statistics slot in every worker.

/// Allocates ids from `0..capacity`; a freed id is reused last.
#[derive(Debug)]
pub struct FlowIds {
    free: std::collections::VecDeque<u32>,
}

impl FlowIds {
    /// Ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        FlowIds { free: (0..capacity as u32).collect() }
    }

    /// Two ids (RTP and RTCP of a leg).
    pub fn pair(&mut self) -> Option<(u32, u32)> {
        if self.free.len() < 2 {
            return None;
        }
        Some((self.free.pop_front()?, self.free.pop_front()?))
    }

    /// Returns ids; call only once every worker has dropped the flows.
    pub fn release(&mut self, ids: (u32, u32)) {
        self.free.push_back(ids.0);
        self.free.push_back(ids.1);
    }

    /// Ids left.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}
