"""Registration servicer: protobuf in, service call, protobuf out."""

from __future__ import annotations

from typing import Any

import grpc

from central.api.auth import current_principal
from central.api.convert import enum, ts
from central.api.paging import page_of
from central.api.registry import ServerContext
from central.services import registration as svc
from central.services.principal import COMPANY, DRIVER, LANE, OFFICER
from central.store import models
from proto.rocars.v1 import registration_pb2 as pb
from proto.rocars.v1 import registration_pb2_grpc


def control_point_pb(cp: models.ControlPoint) -> pb.ControlPoint:
    return pb.ControlPoint(
        code=cp.code, name=cp.name, slot_minutes=cp.slot_minutes, slot_capacity=cp.slot_capacity
    )


def company_pb(c: models.Company) -> pb.Company:
    return pb.Company(
        id=c.id,
        kind=enum(c.kind),
        brn=c.brn,
        name=c.name,
        address=c.address,
        contact_name=c.contact_name,
        contact_phone=c.contact_phone,
        contact_email=c.contact_email,
        active=c.active,
        created_at=ts(c.created_at),
    )


def driver_pb(d: models.Driver) -> pb.Driver:
    return pb.Driver(
        id=d.id,
        document_number=d.document_number,
        name=d.name,
        card_number=d.card_number or "",
        phone=d.phone,
        active=d.active,
        created_at=ts(d.created_at),
    )


def vehicle_pb(x: models.Vehicle) -> pb.Vehicle:
    return pb.Vehicle(
        id=x.id,
        registration_mark=x.registration_mark,
        mainland_plate=x.mainland_plate or "",
        tag_epc=x.tag_epc or "",
        owner_company_id=x.owner_id or 0,
        active=x.active,
        created_at=ts(x.created_at),
    )


def lane_pb(lane: models.Lane, cp_code: str) -> pb.Lane:
    return pb.Lane(
        id=lane.id,
        code=lane.code,
        control_point=cp_code,
        direction=enum(lane.direction),
        description=lane.description,
        active=lane.active,
        created_at=ts(lane.created_at),
    )


def officer_pb(o: models.Officer) -> pb.Officer:
    return pb.Officer(
        id=o.id, badge_number=o.badge_number, name=o.name, active=o.active, created_at=ts(o.created_at)
    )


class RegistrationServicer(registration_pb2_grpc.RegistrationServicer):
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def UpsertControlPoint(
        self, request: pb.UpsertControlPointRequest, context: grpc.ServicerContext
    ) -> pb.ControlPoint:
        c = request.control_point
        cp = svc.upsert_control_point(
            svc.ControlPointInput(c.code, c.name, c.slot_minutes, c.slot_capacity),
            self.ctx.config.default_slot_minutes,
            self.ctx.config.default_slot_capacity,
        )
        return control_point_pb(cp)

    def ListControlPoints(
        self, request: pb.ListControlPointsRequest, context: grpc.ServicerContext
    ) -> pb.ListControlPointsReply:
        rows = models.ControlPoint.select().order_by(models.ControlPoint.code)
        return pb.ListControlPointsReply(control_points=[control_point_pb(cp) for cp in rows])

    def RegisterCompany(
        self, request: pb.RegisterCompanyRequest, context: grpc.ServicerContext
    ) -> pb.RegisterCompanyReply:
        c = request.company
        company, token = svc.register_company(
            svc.CompanyInput(
                c.kind, c.brn, c.name, c.address, c.contact_name, c.contact_phone, c.contact_email
            ),
            self.ctx.clock.now(),
            request.token_label,
        )
        return pb.RegisterCompanyReply(company=company_pb(company), api_token=token)

    def RegisterDriver(
        self, request: pb.RegisterDriverRequest, context: grpc.ServicerContext
    ) -> pb.RegisterDriverReply:
        d = request.driver
        driver, token = svc.register_driver(
            svc.DriverInput(d.document_number, d.name, d.card_number, d.phone),
            self.ctx.clock.now(),
            request.token_label,
        )
        return pb.RegisterDriverReply(
            driver=driver_pb(driver),
            api_token=token,
            totp_secret=driver.totp_secret,
            totp_uri=svc.totp_uri(driver),
        )

    def ResetDriverSecurityCode(
        self, request: pb.ResetDriverSecurityCodeRequest, context: grpc.ServicerContext
    ) -> pb.RegisterDriverReply:
        driver = svc.reset_driver_secret(request.driver_id)
        return pb.RegisterDriverReply(
            driver=driver_pb(driver), totp_secret=driver.totp_secret, totp_uri=svc.totp_uri(driver)
        )

    def RegisterVehicle(
        self, request: pb.RegisterVehicleRequest, context: grpc.ServicerContext
    ) -> pb.Vehicle:
        x = request.vehicle
        vehicle = svc.register_vehicle(
            svc.VehicleInput(x.registration_mark, x.mainland_plate, x.tag_epc, x.owner_company_id),
            self.ctx.clock.now(),
        )
        return vehicle_pb(vehicle)

    def UpdateVehicle(self, request: pb.UpdateVehicleRequest, context: grpc.ServicerContext) -> pb.Vehicle:
        return vehicle_pb(
            svc.update_vehicle(
                request.registration_mark, request.mainland_plate, request.tag_epc, self.ctx.clock.now()
            )
        )

    def RegisterLane(self, request: pb.RegisterLaneRequest, context: grpc.ServicerContext) -> pb.Lane:
        x = request.lane
        lane = svc.register_lane(
            svc.LaneInput(x.code, x.control_point, x.direction, x.description), self.ctx.clock.now()
        )
        return lane_pb(lane, models.ControlPoint.get_by_id(lane.control_point_id).code)

    def RegisterOfficer(
        self, request: pb.RegisterOfficerRequest, context: grpc.ServicerContext
    ) -> pb.RegisterOfficerReply:
        officer, token = svc.register_officer(
            request.officer.badge_number, request.officer.name, self.ctx.clock.now(), request.token_label
        )
        return pb.RegisterOfficerReply(officer=officer_pb(officer), api_token=token)

    def IssueToken(self, request: pb.IssueTokenRequest, context: grpc.ServicerContext) -> pb.IssueTokenReply:
        token = svc.issue_token(request.account_kind, request.account_id, request.label, self.ctx.clock.now())
        return pb.IssueTokenReply(api_token=token)

    def RevokeTokens(
        self, request: pb.RevokeTokensRequest, context: grpc.ServicerContext
    ) -> pb.RevokeTokensReply:
        return pb.RevokeTokensReply(
            revoked=svc.revoke_tokens(request.account_kind, request.account_id, self.ctx.clock.now())
        )

    def SetAccountActive(
        self, request: pb.SetAccountActiveRequest, context: grpc.ServicerContext
    ) -> pb.SetAccountActiveReply:
        svc.set_active(request.account_kind, request.account_id, request.active, self.ctx.clock.now())
        return pb.SetAccountActiveReply()

    def _page(
        self, query: Any, model: type[models.BaseModel], request: pb.ListAccountsRequest
    ) -> tuple[list[Any], str]:
        return page_of(query, model.id, request.page, self.ctx.config.max_page_size)  # type: ignore[attr-defined]

    def ListCompanies(
        self, request: pb.ListAccountsRequest, context: grpc.ServicerContext
    ) -> pb.ListCompaniesReply:
        rows, token = self._page(models.Company.select(), models.Company, request)
        return pb.ListCompaniesReply(companies=[company_pb(r) for r in rows], next_page_token=token)

    def ListDrivers(
        self, request: pb.ListAccountsRequest, context: grpc.ServicerContext
    ) -> pb.ListDriversReply:
        rows, token = self._page(models.Driver.select(), models.Driver, request)
        return pb.ListDriversReply(drivers=[driver_pb(r) for r in rows], next_page_token=token)

    def ListVehicles(
        self, request: pb.ListAccountsRequest, context: grpc.ServicerContext
    ) -> pb.ListVehiclesReply:
        rows, token = self._page(models.Vehicle.select(), models.Vehicle, request)
        return pb.ListVehiclesReply(vehicles=[vehicle_pb(r) for r in rows], next_page_token=token)

    def ListLanes(self, request: pb.ListAccountsRequest, context: grpc.ServicerContext) -> pb.ListLanesReply:
        query = models.Lane.select(models.Lane, models.ControlPoint).join(models.ControlPoint)
        rows, token = self._page(query, models.Lane, request)
        return pb.ListLanesReply(
            lanes=[lane_pb(r, r.control_point.code) for r in rows],  # type: ignore[attr-defined]
            next_page_token=token,
        )

    def WhoAmI(self, request: pb.WhoAmIRequest, context: grpc.ServicerContext) -> pb.WhoAmIReply:
        p = current_principal()
        return pb.WhoAmIReply(
            role=enum(p.role),
            account_id=p.account_id,
            display_name=p.name,
            control_point=p.control_point if p.role == LANE else "",
            direction=enum(p.direction if p.role == LANE else 0),
        )


_ = (COMPANY, DRIVER, OFFICER)


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    registration_pb2_grpc.add_RegistrationServicer_to_server(RegistrationServicer(ctx), server)
    ctx.service_names.append(pb.DESCRIPTOR.services_by_name["Registration"].full_name)
