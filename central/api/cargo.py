"""Cargo servicer: protobuf in, service call, protobuf out. No risk data leaves here."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import grpc

from central.api.auth import current_principal
from central.api.convert import enum, from_ts_checked, ts
from central.api.paging import page_of
from central.api.registry import ServerContext
from central.services import cargo as svc
from central.store import models
from proto.rocars.v1 import cargo_pb2 as pb
from proto.rocars.v1 import cargo_pb2_grpc


def cargo_input(c: pb.CargoDetails) -> svc.CargoInput:
    return svc.CargoInput(
        packages_count=c.packages_count,
        package_description=c.package_description,
        article_description=c.article_description,
        consignor_name=c.consignor_name,
        consignor_address=c.consignor_address,
        consignee_name=c.consignee_name,
        consignee_address=c.consignee_address,
        expected_at=from_ts_checked(c.expected_at) if c.HasField("expected_at") else None,
        gross_weight_kg=c.gross_weight_kg,
        declared_value=c.declared_value,
        currency=c.currency,
        hs_code=c.hs_code,
        container_numbers=list(c.container_numbers),
        seal_numbers=list(c.seal_numbers),
        transshipment=c.transshipment,
        elock_id=c.elock_id,
        transshipment_route=c.transshipment_route,
    )


def _decimal_text(value: object, places: int) -> str:
    # Quantised so both databases print the same text (SQLite keeps 1250.5 as given).
    return "" if value is None else format(Decimal(str(value)).quantize(Decimal(1).scaleb(-places)), "f")


def cargo_details(c: models.Consignment) -> pb.CargoDetails:
    return pb.CargoDetails(
        packages_count=c.packages_count,
        package_description=c.package_description,
        article_description=c.article_description,
        consignor_name=c.consignor_name,
        consignor_address=c.consignor_address,
        consignee_name=c.consignee_name,
        consignee_address=c.consignee_address,
        expected_at=ts(c.expected_at),
        gross_weight_kg=_decimal_text(c.gross_weight_kg, 3),
        declared_value=_decimal_text(c.declared_value, 2),
        currency=c.currency,
        hs_code=c.hs_code,
        container_numbers=[x for x in c.container_numbers.split(",") if x],
        seal_numbers=[x for x in c.seal_numbers.split(",") if x],
        transshipment=c.transshipment,
        elock_id=c.elock_id,
        transshipment_route=c.transshipment_route,
    )


def consignment_pb(
    c: models.Consignment,
    company_name: str | None = None,
    cp_code: str | None = None,
    trip_reference: str | None = None,
) -> pb.Consignment:
    if company_name is None:
        company_name = models.Company.get_by_id(c.company_id).name
    if cp_code is None:
        cp_code = models.ControlPoint.get_by_id(c.control_point_id).code
    if trip_reference is None:
        trip_reference = models.Trip.get_by_id(c.trip_id).reference if c.trip_id else ""
    return pb.Consignment(
        ccrn=c.ccrn,
        company_id=c.company_id,
        company_name=company_name,
        direction=enum(c.direction),
        control_point=cp_code,
        status=enum(c.status),
        version=c.version,
        cargo=cargo_details(c),
        trip_reference=trip_reference,
        created_at=ts(c.created_at),
        updated_at=ts(c.updated_at),
    )


def _version_pb(row: models.ConsignmentVersion) -> pb.ConsignmentVersion:
    import json

    data = json.loads(row.data)
    expected = data.get("expected_at")
    from datetime import datetime

    details = pb.CargoDetails(
        packages_count=data.get("packages_count", 0),
        package_description=data.get("package_description", ""),
        article_description=data.get("article_description", ""),
        consignor_name=data.get("consignor_name", ""),
        consignor_address=data.get("consignor_address", ""),
        consignee_name=data.get("consignee_name", ""),
        consignee_address=data.get("consignee_address", ""),
        expected_at=ts(datetime.fromisoformat(expected)) if expected else None,
        gross_weight_kg=data.get("gross_weight_kg") or "",
        declared_value=data.get("declared_value") or "",
        currency=data.get("currency", ""),
        hs_code=data.get("hs_code", ""),
        container_numbers=data.get("container_numbers", []),
        seal_numbers=data.get("seal_numbers", []),
        transshipment=data.get("transshipment", False),
        elock_id=data.get("elock_id", ""),
        transshipment_route=data.get("transshipment_route", ""),
    )
    return pb.ConsignmentVersion(
        version=row.version,
        action=row.action,
        cargo=details,
        control_point=data.get("control_point", ""),
        direction=data.get("direction", 0),
        reason=row.reason,
        created_at=ts(row.created_at),
    )


class CargoServicer(cargo_pb2_grpc.CargoServicer):
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    @property
    def window(self) -> svc.Window:
        c = self.ctx.config
        return svc.Window(
            timedelta(minutes=c.submission_min_lead_minutes), timedelta(days=c.submission_max_lead_days)
        )

    def SubmitConsignment(
        self, request: pb.SubmitConsignmentRequest, context: grpc.ServicerContext
    ) -> pb.Consignment:
        row = svc.submit(
            current_principal(),
            request.idempotency_key,
            request.direction,
            request.control_point,
            cargo_input(request.cargo),
            self.ctx.clock.now(),
            self.window,
        )
        # The service hands back the row with its control point attached: no look-ups.
        return consignment_pb(
            row, company_name=current_principal().name, cp_code=row.control_point.code, trip_reference=""
        )

    def AmendConsignment(
        self, request: pb.AmendConsignmentRequest, context: grpc.ServicerContext
    ) -> pb.Consignment:
        row = svc.amend(
            current_principal(),
            request.ccrn,
            cargo_input(request.cargo),
            request.expected_version,
            request.reason,
            request.control_point,
            request.direction,
            self.ctx.clock.now(),
            self.window,
        )
        return consignment_pb(row)

    def CancelConsignment(
        self, request: pb.CancelConsignmentRequest, context: grpc.ServicerContext
    ) -> pb.Consignment:
        return consignment_pb(
            svc.cancel(current_principal(), request.ccrn, request.reason, self.ctx.clock.now())
        )

    def GetConsignment(
        self, request: pb.GetConsignmentRequest, context: grpc.ServicerContext
    ) -> pb.Consignment:
        return consignment_pb(svc.get(current_principal(), request.ccrn))

    def ListConsignments(
        self, request: pb.ListConsignmentsRequest, context: grpc.ServicerContext
    ) -> pb.ListConsignmentsReply:
        query = svc.list_query(
            current_principal(), list(request.statuses), request.company_id, request.control_point
        )
        rows, token = page_of(query, models.Consignment.id, request.page, self.ctx.config.max_page_size)
        out = []
        for c in rows:
            trip = c.trip.reference if c.trip_id else ""
            out.append(
                consignment_pb(
                    c, company_name=c.company.name, cp_code=c.control_point.code, trip_reference=trip
                )
            )
        return pb.ListConsignmentsReply(consignments=out, next_page_token=token)

    def ListConsignmentVersions(
        self, request: pb.ListConsignmentVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListConsignmentVersionsReply:
        row, versions = svc.versions(current_principal(), request.ccrn)
        return pb.ListConsignmentVersionsReply(ccrn=row.ccrn, versions=[_version_pb(v) for v in versions])


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    cargo_pb2_grpc.add_CargoServicer_to_server(CargoServicer(ctx), server)
    ctx.service_names.append(pb.DESCRIPTOR.services_by_name["Cargo"].full_name)
