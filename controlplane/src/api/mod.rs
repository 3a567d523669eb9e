//! The gRPC API (`mediafwd.v1.MediaRelay`), with the standard health
//! service and server reflection: a thin adapter over the control core.
//! Each handler reads its protobuf request into a domain request
//! ([`convert`]; a bad field answers INVALID_ARGUMENT naming it), hands it to
//! the control loop, and writes the loop's answer back as protobuf, or its
//! error kind as a status code. WatchEvents writes the core's events.

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
use pb::high_availability_server::HighAvailability;
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
    events: broadcast::Sender<control::Event>,
}

impl RelayService {
    /// A service talking to the control loop through `control`.
    pub fn new(control: Sender<control::Request>, events: broadcast::Sender<control::Event>) -> Self {
        RelayService { control, events }
    }

    /// Asks the control loop; its answer written with `write`.
    async fn ask<T, U>(
        &self,
        make: impl FnOnce(Reply<T>) -> control::Request,
        write: impl FnOnce(&T) -> U,
    ) -> Result<Response<U>, Status> {
        control::ask(&self.control, make).await.map(|t| Response::new(write(&t))).map_err(convert::status)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl MediaRelay for RelayService {
    async fn create_session(&self, r: Request<pb::CreateSessionRequest>) -> Result<Response<pb::Session>, Status> {
        let req = convert::create_request(r.into_inner()).map_err(convert::status)?;
        self.ask(|tx| control::Request::Create(Box::new(req), tx), convert::session).await
    }

    async fn update_leg(&self, r: Request<pb::UpdateLegRequest>) -> Result<Response<pb::Session>, Status> {
        let req = convert::update_request(r.into_inner()).map_err(convert::status)?;
        self.ask(|tx| control::Request::Update(Box::new(req), tx), convert::session).await
    }

    async fn delete_session(&self, r: Request<pb::DeleteSessionRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Delete(r.into_inner().session_id, tx), convert::session).await
    }

    async fn get_session(&self, r: Request<pb::GetSessionRequest>) -> Result<Response<pb::Session>, Status> {
        self.ask(|tx| control::Request::Get(r.into_inner().session_id, tx), convert::session).await
    }

    async fn list_sessions(
        &self,
        r: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let req = convert::list_request(r.into_inner());
        self.ask(|tx| control::Request::List(req, tx), convert::session_page).await
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(&self, r: Request<pb::WatchEventsRequest>) -> Result<Response<EventStream>, Status> {
        let only = r.into_inner().session_id;
        let stream = BroadcastStream::new(self.events.subscribe()).filter_map(move |e| match e {
            Ok(e) if only.is_empty() || e.session_id == only => Some(Ok(convert::event(&e))),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Err(Status::data_loss(format!("{n} events were lost: the watcher is too slow; watch again"))))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_node_stats(&self, _r: Request<pb::GetNodeStatsRequest>) -> Result<Response<pb::NodeStats>, Status> {
        self.ask(control::Request::Stats, convert::node_stats).await
    }

    async fn drain(&self, r: Request<pb::DrainRequest>) -> Result<Response<pb::DrainResponse>, Status> {
        let req = convert::drain_request(r.into_inner());
        self.ask(|tx| control::Request::Drain(req, tx), |n| pb::DrainResponse { sessions_remaining: *n as u32 }).await
    }
}

/// The HighAvailability service.
pub struct HaService(RelayService);

impl HaService {
    /// A service talking to the control loop through `control`.
    pub fn new(control: Sender<control::Request>, events: broadcast::Sender<control::Event>) -> Self {
        HaService(RelayService::new(control, events))
    }
}

#[tonic::async_trait]
impl HighAvailability for HaService {
    async fn takeover(&self, _r: Request<pb::TakeoverRequest>) -> Result<Response<pb::HaState>, Status> {
        self.0.ask(control::Request::Takeover, |epoch| pb::HaState { active: true, epoch: *epoch }).await
    }

    async fn get_ha_state(&self, _r: Request<pb::GetHaStateRequest>) -> Result<Response<pb::HaState>, Status> {
        self.0.ask(control::Request::HaState, |(active, epoch)| pb::HaState { active: *active, epoch: *epoch }).await
    }
}
