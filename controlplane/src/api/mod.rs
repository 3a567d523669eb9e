//! The gRPC API (`mediafwd.v1.MediaRelay`), with the standard health
//! service and server reflection. Handlers validate nothing themselves
//! beyond decoding: they hand requests to the control loop and await its
//! answer.

// tonic::Status is the error type of every gRPC handler; boxing it would only
// add an allocation to each error path.
#![allow(clippy::result_large_err)]

pub mod convert;
mod metrics;
mod server;

pub use server::{serve, ApiHandle, LIVENESS};

use std::pin::Pin;

use crossbeam_channel::Sender;
use mediafwd_proto::v1 as pb;
use pb::media_relay_server::MediaRelay;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::control::{self, Reply};

/// The MediaRelay service.
pub struct RelayService {
    control: Sender<control::Request>,
    events: broadcast::Sender<pb::Event>,
}

impl RelayService {
    /// A service talking to the control loop through `control`.
    pub fn new(control: Sender<control::Request>, events: broadcast::Sender<pb::Event>) -> Self {
        RelayService { control, events }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> control::Request) -> Result<Response<T>, Status> {
        control::ask(&self.control, make).await.map(Response::new)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl MediaRelay for RelayService {
    async fn create_session(&self, r: Request<pb::CreateSessionRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Create(r.into_inner(), tx)).await
    }

    async fn update_leg(&self, r: Request<pb::UpdateLegRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Update(Box::new(r.into_inner()), tx)).await
    }

    async fn delete_session(&self, r: Request<pb::DeleteSessionRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Delete(r.into_inner().session_id, tx)).await
    }

    async fn get_session(&self, r: Request<pb::GetSessionRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Get(r.into_inner().session_id, tx)).await
    }

    async fn list_sessions(
        &self,
        r: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        self.ask(|tx| control::Request::List(r.into_inner(), tx)).await
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(&self, r: Request<pb::WatchEventsRequest>) -> Result<Response<EventStream>, Status> {
        let only = r.into_inner().session_id;
        let stream = BroadcastStream::new(self.events.subscribe()).filter_map(move |e| match e {
            Ok(e) if only.is_empty() || e.session_id == only => Some(Ok(e)),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Err(Status::data_loss(format!("{n} events were lost: the watcher is too slow; watch again"))))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_node_stats(&self, _r: Request<pb::GetNodeStatsRequest>) -> Result<Response<pb::NodeStats>, Status> {
        self.ask(control::Request::Stats).await
    }

    async fn drain(&self, r: Request<pb::DrainRequest>) -> Result<Response<pb::DrainResponse>, Status> {
        self.ask(|tx| control::Request::Drain(r.into_inner(), tx)).await
    }
}
