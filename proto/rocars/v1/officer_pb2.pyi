import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.rocars.v1 import auth_pb2 as _auth_pb2
from proto.rocars.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rule(_message.Message):
    __slots__ = ("rule_id", "kind", "definition_json", "revision", "added_in_version", "created_at", "created_by")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ADDED_IN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    kind: str
    definition_json: str
    revision: int
    added_in_version: int
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    def __init__(self, rule_id: _Optional[str] = ..., kind: _Optional[str] = ..., definition_json: _Optional[str] = ..., revision: _Optional[int] = ..., added_in_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class ListRulesReply(_message.Message):
    __slots__ = ("rule_set_version", "inspect_at", "hold_at", "rules")
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSPECT_AT_FIELD_NUMBER: _ClassVar[int]
    HOLD_AT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    rule_set_version: int
    inspect_at: int
    hold_at: int
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    def __init__(self, rule_set_version: _Optional[int] = ..., inspect_at: _Optional[int] = ..., hold_at: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ...) -> None: ...

class GetRuleHistoryRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class ChangeRulesRequest(_message.Message):
    __slots__ = ("put_json", "retire", "inspect_at", "hold_at", "comment", "expected_version", "skip_rescore")
    PUT_JSON_FIELD_NUMBER: _ClassVar[int]
    RETIRE_FIELD_NUMBER: _ClassVar[int]
    INSPECT_AT_FIELD_NUMBER: _ClassVar[int]
    HOLD_AT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKIP_RESCORE_FIELD_NUMBER: _ClassVar[int]
    put_json: _containers.RepeatedScalarFieldContainer[str]
    retire: _containers.RepeatedScalarFieldContainer[str]
    inspect_at: int
    hold_at: int
    comment: str
    expected_version: int
    skip_rescore: bool
    def __init__(self, put_json: _Optional[_Iterable[str]] = ..., retire: _Optional[_Iterable[str]] = ..., inspect_at: _Optional[int] = ..., hold_at: _Optional[int] = ..., comment: _Optional[str] = ..., expected_version: _Optional[int] = ..., skip_rescore: _Optional[bool] = ...) -> None: ...

class RuleChangeReply(_message.Message):
    __slots__ = ("rule_set_version", "rescored_consignments", "rescored_trips", "verdict_changes", "rescore_seconds")
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESCORED_CONSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    RESCORED_TRIPS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_CHANGES_FIELD_NUMBER: _ClassVar[int]
    RESCORE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    rule_set_version: int
    rescored_consignments: int
    rescored_trips: int
    verdict_changes: int
    rescore_seconds: float
    def __init__(self, rule_set_version: _Optional[int] = ..., rescored_consignments: _Optional[int] = ..., rescored_trips: _Optional[int] = ..., verdict_changes: _Optional[int] = ..., rescore_seconds: _Optional[float] = ...) -> None: ...

class EditWatchListRequest(_message.Message):
    __slots__ = ("rule_id", "add", "remove", "comment")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    ADD_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    add: _containers.RepeatedScalarFieldContainer[str]
    remove: _containers.RepeatedScalarFieldContainer[str]
    comment: str
    def __init__(self, rule_id: _Optional[str] = ..., add: _Optional[_Iterable[str]] = ..., remove: _Optional[_Iterable[str]] = ..., comment: _Optional[str] = ...) -> None: ...

class RiskReason(_message.Message):
    __slots__ = ("rule_id", "field", "value", "points", "detail", "verdict")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    field: str
    value: str
    points: int
    detail: str
    verdict: _common_pb2.Verdict
    def __init__(self, rule_id: _Optional[str] = ..., field: _Optional[str] = ..., value: _Optional[str] = ..., points: _Optional[int] = ..., detail: _Optional[str] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ...) -> None: ...

class RiskAssessment(_message.Message):
    __slots__ = ("subject", "reference", "control_point", "direction", "expected_at", "verdict", "rule_verdict", "score", "reasons", "rule_set_version", "assessed_at", "override_verdict", "override_reason", "override_by", "override_in_force")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_AT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RULE_VERDICT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSESSED_AT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_VERDICT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_BY_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    reference: str
    control_point: str
    direction: _common_pb2.Direction
    expected_at: _timestamp_pb2.Timestamp
    verdict: _common_pb2.Verdict
    rule_verdict: _common_pb2.Verdict
    score: int
    reasons: _containers.RepeatedCompositeFieldContainer[RiskReason]
    rule_set_version: int
    assessed_at: _timestamp_pb2.Timestamp
    override_verdict: _common_pb2.Verdict
    override_reason: str
    override_by: str
    override_in_force: bool
    def __init__(self, subject: _Optional[str] = ..., reference: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., expected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., rule_verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., score: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[RiskReason, _Mapping]]] = ..., rule_set_version: _Optional[int] = ..., assessed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., override_verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., override_reason: _Optional[str] = ..., override_by: _Optional[str] = ..., override_in_force: _Optional[bool] = ...) -> None: ...

class ListRiskTripsRequest(_message.Message):
    __slots__ = ("control_point", "start", "end", "min_verdict", "page")
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MIN_VERDICT_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    control_point: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    min_verdict: _common_pb2.Verdict
    page: _common_pb2.PageRequest
    def __init__(self, control_point: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class RiskTrip(_message.Message):
    __slots__ = ("trip", "consignments")
    TRIP_FIELD_NUMBER: _ClassVar[int]
    CONSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    trip: RiskAssessment
    consignments: _containers.RepeatedCompositeFieldContainer[RiskAssessment]
    def __init__(self, trip: _Optional[_Union[RiskAssessment, _Mapping]] = ..., consignments: _Optional[_Iterable[_Union[RiskAssessment, _Mapping]]] = ...) -> None: ...

class ListRiskTripsReply(_message.Message):
    __slots__ = ("trips", "next_page_token")
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trips: _containers.RepeatedCompositeFieldContainer[RiskTrip]
    next_page_token: str
    def __init__(self, trips: _Optional[_Iterable[_Union[RiskTrip, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("ccrn", "trip_reference", "replay_version")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    trip_reference: str
    replay_version: int
    def __init__(self, ccrn: _Optional[str] = ..., trip_reference: _Optional[str] = ..., replay_version: _Optional[int] = ...) -> None: ...

class OverrideVerdictRequest(_message.Message):
    __slots__ = ("ccrn", "trip_reference", "verdict", "reason")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    trip_reference: str
    verdict: _common_pb2.Verdict
    reason: str
    def __init__(self, ccrn: _Optional[str] = ..., trip_reference: _Optional[str] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordInspectionRequest(_message.Message):
    __slots__ = ("trip_reference", "ccrn", "result", "notes", "discrepant_ccrns")
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CCRN_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DISCREPANT_CCRNS_FIELD_NUMBER: _ClassVar[int]
    trip_reference: str
    ccrn: str
    result: str
    notes: str
    discrepant_ccrns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, trip_reference: _Optional[str] = ..., ccrn: _Optional[str] = ..., result: _Optional[str] = ..., notes: _Optional[str] = ..., discrepant_ccrns: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordInspectionReply(_message.Message):
    __slots__ = ("inspection_id", "companies_hit", "companies_clean")
    INSPECTION_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANIES_HIT_FIELD_NUMBER: _ClassVar[int]
    COMPANIES_CLEAN_FIELD_NUMBER: _ClassVar[int]
    inspection_id: int
    companies_hit: _containers.RepeatedScalarFieldContainer[int]
    companies_clean: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, inspection_id: _Optional[int] = ..., companies_hit: _Optional[_Iterable[int]] = ..., companies_clean: _Optional[_Iterable[int]] = ...) -> None: ...

class RescoreRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class RescoreReply(_message.Message):
    __slots__ = ("rule_set_version", "consignments", "trips", "verdict_changes", "seconds")
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_CHANGES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    rule_set_version: int
    consignments: int
    trips: int
    verdict_changes: int
    seconds: float
    def __init__(self, rule_set_version: _Optional[int] = ..., consignments: _Optional[int] = ..., trips: _Optional[int] = ..., verdict_changes: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("after_seq", "limit", "subject")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    limit: int
    subject: str
    def __init__(self, after_seq: _Optional[int] = ..., limit: _Optional[int] = ..., subject: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("seq", "at", "actor", "action", "subject", "details_json", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    actor: str
    action: str
    subject: str
    details_json: str
    hash: str
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., subject: _Optional[str] = ..., details_json: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAuditReply(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAuditReply(_message.Message):
    __slots__ = ("ok", "entries", "head_hash", "first_bad_seq", "problem")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int
    problem: str
    def __init__(self, ok: _Optional[bool] = ..., entries: _Optional[int] = ..., head_hash: _Optional[str] = ..., first_bad_seq: _Optional[int] = ..., problem: _Optional[str] = ...) -> None: ...
