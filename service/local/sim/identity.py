"""The simulated WhatsApp business numbers, under both Meta's and EUM's ids.

Meta identifies a number by `phone_number_id` (in webhooks); EUM Social by its own hex id
(`phone-number-id-<hex>` or the ARN ending in `/<hex>`), which SendWhatsAppMessage takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    phone_number_id: str
    display_phone_number: str
    arn: str
    waba_id: str
    waba_arn: str

    @property
    def eum_id(self) -> str:
        return "phone-number-id-" + self.arn.rsplit("/", 1)[-1]

    def describe(self) -> dict[str, Any]:
        return {
            "phoneNumberId": self.phone_number_id,
            "displayPhoneNumber": self.display_phone_number,
            "arn": self.arn,
            "eumId": self.eum_id,
            "wabaId": self.waba_id,
            "wabaArn": self.waba_arn,
        }


class BusinessDirectory:
    def __init__(self, default: BusinessNumber) -> None:
        self._default = default
        self._numbers: dict[str, BusinessNumber] = {}
        self.reset()

    @property
    def default(self) -> BusinessNumber:
        return self._default

    def add(self, number: BusinessNumber) -> None:
        self._numbers[number.phone_number_id] = number

    def numbers(self) -> list[BusinessNumber]:
        return list(self._numbers.values())

    def by_meta_id(self, phone_number_id: str) -> BusinessNumber | None:
        return self._numbers.get(phone_number_id)

    def by_origination(self, origination: str) -> BusinessNumber | None:
        """The number an EUM `originationPhoneNumberId` (id or ARN) names."""
        return next(
            (
                number
                for number in self._numbers.values()
                if origination in {number.eum_id, number.arn}
            ),
            None,
        )

    def reset(self) -> None:
        self._numbers = {self._default.phone_number_id: self._default}
