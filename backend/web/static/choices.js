// The application's closed questions in words (the API's answers are keys such as `7y_plus`);
// amounts in the loan token, a month where the question is monthly.

import { state } from "./core.js";

const a = (text) => `${text} ${state.symbol}`;

const WORDS = {
  purpose: { new_car: "A new car", used_car: "A used car", furniture: "Furniture", radio_tv: "A radio or TV",
    appliances: "Household appliances", repairs: "Repairs", education: "Education", retraining: "Retraining",
    business: "Business", other: "Something else" },
  monthly_income_band: { under_500: () => a("Under 500"), "500_to_1000": () => a("500 to 1,000"),
    "1000_to_2000": () => a("1,000 to 2,000"), "2000_to_3500": () => a("2,000 to 3,500"),
    "3500_to_5000": () => a("3,500 to 5,000"), "5000_plus": () => a("5,000 or more") },
  employment_length: { unemployed: "Not employed", under_1y: "Employed, under 1 year", "1_to_4y": "Employed, 1 to 4 years",
    "4_to_7y": "Employed, 4 to 7 years", "7y_plus": "Employed, 7 years or more" },
  housing: { rent: "Renting", own: "Home owner", free: "Living free of charge" },
  checking_account: { none: "No current account", negative: "Overdrawn (below 0)", "0_to_200": () => a("0 to 200"),
    "200_plus_or_salary": () => `${a("200 or more")}, or salary paid in for a year or more` },
  savings: { none_or_unknown: "None, or not known", under_100: () => a("Under 100"), "100_to_500": () => a("100 to 500"),
    "500_to_1000": () => a("500 to 1,000"), "1000_plus": () => a("1,000 or more") },
  credit_history: { no_credit_or_all_repaid: "No credit taken, or all credit paid back duly",
    all_repaid_here: "All credit with us paid back duly", current_repaid_duly: "Current credit paid back duly so far",
    past_delays: "Late payments in the past", critical_or_credit_elsewhere: "A critical account, or credit elsewhere" },
  property: { real_estate: "Real estate", savings_or_life_insurance: "A savings agreement or life insurance",
    car_or_other: "A car or other property", none: "None" },
  other_instalment_plans: { none: "None", bank: "With a bank", stores: "With a store" },
  guarantor: { none: "None", co_applicant: "A co-applicant", guarantor: "A guarantor" },
};

// Capitalised as an answer on its own; `inSentence` for the middle of one.
export function choiceWords(question, answer, inSentence = false) {
  const words = WORDS[question]?.[answer];
  const text = typeof words === "function" ? words() : words ?? answer.replaceAll("_", " ");
  return inSentence ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
