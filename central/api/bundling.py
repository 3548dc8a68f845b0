"""Bundling servicer."""

from __future__ import annotations

from datetime import timedelta

import grpc

from central.api.auth import current_principal
from central.api.convert import enum, from_ts_checked, ts
from central.api.paging import page_of
from central.api.registry import ServerContext
from central.services import bundling as svc
from central.services.errors import FieldViolation, ValidationError
from central.store import models
from central.store.db import from_db
from proto.rocars.v1 import bundling_pb2 as pb
from proto.rocars.v1 import bundling_pb2_grpc


def trip_pb(
    t: models.Trip,
    driver: models.Driver | None = None,
    vehicle: models.Vehicle | None = None,
    cp: models.ControlPoint | None = None,
) -> pb.Trip:
    """Trip -> protobuf; pass the joined rows when the query loaded them."""
    driver = driver or models.Driver.get_by_id(t.driver_id)
    vehicle = vehicle or models.Vehicle.get_by_id(t.vehicle_id)
    cp = cp or models.ControlPoint.get_by_id(t.control_point_id)
    ccrns = [
        c.ccrn
        for c in models.Consignment.select(models.Consignment.ccrn)
        .where(models.Consignment.trip == t.id)
        .order_by(models.Consignment.id)
    ]
    wanted = svc.slot_start_for(from_db(t.expected_arrival), cp.slot_minutes)  # type: ignore[arg-type]
    return pb.Trip(
        reference=t.reference,
        driver_id=t.driver_id,
        driver_name=driver.name,
        vehicle_registration_mark=vehicle.registration_mark,
        control_point=cp.code,
        direction=enum(t.direction),
        expected_arrival=ts(t.expected_arrival),
        slot_start=ts(t.slot_start),
        slot_end=ts(t.slot_end),
        empty_truck=t.empty,
        status=enum(t.status),
        ccrns=ccrns,
        slot_moved=from_db(t.slot_start) != wanted,
        created_at=ts(t.created_at),
        updated_at=ts(t.updated_at),
    )


class BundlingServicer(bundling_pb2_grpc.BundlingServicer):
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    @property
    def rules(self) -> svc.BundlingRules:
        c = self.ctx.config
        return svc.BundlingRules(
            timedelta(minutes=c.bundling_min_lead_minutes),
            timedelta(days=c.submission_max_lead_days),
            c.max_ccrns_per_trip,
        )

    def BundleTrip(self, request: pb.BundleTripRequest, context: grpc.ServicerContext) -> pb.Trip:
        req = svc.TripRequest(
            vehicle_registration_mark=request.vehicle_registration_mark,
            control_point=request.control_point,
            direction=request.direction,
            expected_arrival=from_ts_checked(request.expected_arrival)
            if request.HasField("expected_arrival")
            else None,
            ccrns=list(request.ccrns),
            empty_truck=request.empty_truck,
        )
        trip = svc.bundle(
            current_principal(),
            request.idempotency_key,
            request.security_code,
            req,
            self.ctx.clock.now(),
            self.rules,
        )
        return trip_pb(trip)

    def RebundleTrip(self, request: pb.RebundleTripRequest, context: grpc.ServicerContext) -> pb.Trip:
        arrival = None
        if request.HasField("expected_arrival"):
            arrival = from_ts_checked(request.expected_arrival)
            if arrival is None:
                raise ValidationError([FieldViolation("expected_arrival", "must be between 2000 and 2100")])
        trip = svc.rebundle(
            current_principal(),
            request.trip_reference,
            request.security_code,
            request.vehicle_registration_mark,
            arrival,
            list(request.ccrns),
            request.empty_truck,
            self.ctx.clock.now(),
            self.rules,
            control_point=request.control_point,
        )
        return trip_pb(trip)

    def UnbundleTrip(self, request: pb.UnbundleTripRequest, context: grpc.ServicerContext) -> pb.Trip:
        return trip_pb(
            svc.unbundle(
                current_principal(), request.trip_reference, request.security_code, self.ctx.clock.now()
            )
        )

    def GetTrip(self, request: pb.GetTripRequest, context: grpc.ServicerContext) -> pb.Trip:
        return trip_pb(svc.own_trip(current_principal(), request.trip_reference))

    def ListTrips(self, request: pb.ListTripsRequest, context: grpc.ServicerContext) -> pb.ListTripsReply:
        query = svc.list_query(current_principal(), list(request.statuses), request.control_point)
        rows, token = page_of(query, models.Trip.id, request.page, self.ctx.config.max_page_size)
        return pb.ListTripsReply(
            trips=[trip_pb(t, t.driver, t.vehicle, t.control_point) for t in rows], next_page_token=token
        )

    def GetSlotAvailability(
        self, request: pb.GetSlotAvailabilityRequest, context: grpc.ServicerContext
    ) -> pb.GetSlotAvailabilityReply:
        start = self.ctx.clock.now()
        if request.HasField("from"):
            checked = from_ts_checked(getattr(request, "from"))
            if checked is None:
                raise ValidationError([FieldViolation("from", "must be between 2000 and 2100")])
            start = checked
        slots = svc.availability(request.control_point, request.direction, start, request.slots or 8)
        minutes = models.ControlPoint.get(
            models.ControlPoint.code == request.control_point.strip().upper()
        ).slot_minutes
        return pb.GetSlotAvailabilityReply(
            slots=[
                pb.SlotAvailability(
                    slot_start=ts(s), slot_end=ts(s + timedelta(minutes=minutes)), capacity=cap, booked=booked
                )
                for s, cap, booked in slots
            ]
        )


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    bundling_pb2_grpc.add_BundlingServicer_to_server(BundlingServicer(ctx), server)
    ctx.service_names.append(pb.DESCRIPTOR.services_by_name["Bundling"].full_name)
