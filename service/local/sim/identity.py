"""The simulated WhatsApp business numbers, under both Meta's and EUM's ids.

Meta identifies a number by `phone_number_id` (in webhooks); EUM Social by its own hex id
(`phone-number-id-<hex>` or the ARN ending in `/<hex>`), which SendWhatsAppMessage takes.
A WhatsApp Business Account likewise: Meta's numeric `waba_id` in webhooks, EUM's
`waba-<hex>` (or the ARN ending in `/<hex>`) in the template operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

# The verified business name WhatsApp shows customers (Meta's `verified_name`).
DEFAULT_VERIFIED_NAME: Final = "Sandbox Business"
# Meta's rating of a number's recent message quality; the sandbox's numbers are healthy.
QUALITY_RATING: Final = "GREEN"


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    phone_number_id: str
    display_phone_number: str
    arn: str
    waba_id: str
    waba_arn: str
    verified_name: str = DEFAULT_VERIFIED_NAME

    @property
    def eum_id(self) -> str:
        return "phone-number-id-" + self.arn.rsplit("/", 1)[-1]

    @property
    def eum_waba_id(self) -> str:
        return "waba-" + self.waba_arn.rsplit("/", 1)[-1]

    def details(self) -> dict[str, Any]:
        """GetLinkedWhatsAppBusinessAccountPhoneNumber's `phoneNumber` for this number."""
        return {
            "arn": self.arn,
            "phoneNumber": "+" + self.display_phone_number.lstrip("+"),
            "phoneNumberId": self.eum_id,
            "metaPhoneNumberId": self.phone_number_id,
            "displayPhoneNumberName": self.verified_name,
            "displayPhoneNumber": self.display_phone_number,
            "qualityRating": QUALITY_RATING,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "phoneNumberId": self.phone_number_id,
            "displayPhoneNumber": self.display_phone_number,
            "arn": self.arn,
            "eumId": self.eum_id,
            "wabaId": self.waba_id,
            "wabaArn": self.waba_arn,
            "eumWabaId": self.eum_waba_id,
            "verifiedName": self.verified_name,
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

    def by_waba(self, waba: str) -> BusinessNumber | None:
        """A number linked to the WABA an EUM id (`waba-<hex>`) or WABA ARN names."""
        return next(
            (
                number
                for number in self._numbers.values()
                if waba in {number.eum_waba_id, number.waba_arn}
            ),
            None,
        )

    def wabas(self) -> set[str]:
        """Meta's ids of the WABAs the sandbox's numbers belong to."""
        return {number.waba_id for number in self._numbers.values()}

    def reset(self) -> None:
        self._numbers = {self._default.phone_number_id: self._default}
